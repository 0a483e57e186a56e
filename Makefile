# The two commands a fresh machine needs: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench bench-million bench-admin clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m newsletter.demo

# The suite runs in TEST_PROCESSES processes (pytest-xdist), each with a test database and a Redis database of its
# own; TEST_PROCESSES=0 runs it in this one process (pdb, -s).
TEST_PROCESSES ?= 2

test: install
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# bench: rendering, a 20,000-recipient send beside raw boto3, django-newsletter side by side on 10,000, CSV
# imports of 10k, 100k and 1M subscribers, and 10,000 webhook deliveries by 1 and 2 worker processes beside raw
# HTTP posts (about fifty minutes, nearly all of it django-newsletter, the 1M import and the webhooks).
# bench-million: sends to 10k, 100k and 1M recipients. bench also measures the share of a throttled rate the send
# workers use (bench_rate.py).
bench: install
	$(BIN)/python bench/bench_campaign.py
	$(BIN)/python bench/bench_send.py
	$(BIN)/python bench/bench_django_newsletter.py
	$(BIN)/python bench/bench_import.py
	$(BIN)/python bench/bench_webhooks.py
	$(BIN)/python bench/bench_rate.py

bench-million: install
	$(BIN)/python bench/bench_send.py --recipients 10000,100000,1000000

# bench-admin: every admin page over a million subscribers (PostgreSQL: set DATABASE_URL and REDIS_URL).
bench-admin: install
	$(BIN)/python bench/bench_admin.py

clean:
	-$(BIN)/python -c "import redis; redis.Redis(unix_socket_path='var/redis.sock').shutdown(nosave=True)" 2>/dev/null
	rm -rf var .pytest_cache test-artifacts
