# The two commands a fresh machine needs: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench bench-million clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m newsletter.demo

test: install
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# bench: rendering, a 20,000-recipient send beside raw boto3, django-newsletter side by side on 10,000, and CSV
# imports of 10k, 100k and 1M subscribers (about forty minutes, nearly all of it django-newsletter and the 1M
# import). bench-million: sends to 10k, 100k and 1M recipients.
bench: install
	$(BIN)/python bench/bench_campaign.py
	$(BIN)/python bench/bench_send.py
	$(BIN)/python bench/bench_django_newsletter.py
	$(BIN)/python bench/bench_import.py

bench-million: install
	$(BIN)/python bench/bench_send.py --recipients 10000,100000,1000000

clean:
	-$(BIN)/python -c "import redis; redis.Redis(unix_socket_path='var/redis.sock').shutdown(nosave=True)" 2>/dev/null
	rm -rf var .pytest_cache test-artifacts
