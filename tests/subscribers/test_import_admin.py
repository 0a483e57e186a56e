"""The admin's import pages over HTTP: permission, upload, guessed columns, dry run, import, errors CSV, retention."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from wagtail import hooks

from subscribers.models import Subscriber, SubscriberImport, SubscriberImportStatus, Subscription, Topic
from subscribers.services.imports.jobs import (
    PROGRESS_KEY,
    RUN_LOCK_KEY,
    import_execute,
    import_file_path,
    import_files_purge,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CSV = (
    "E-mail address,First name,Signup source,Consent date,Consent wording\n"
    "ann@mail.example,Ann,Shop,2024-05-01,Yes please\n"
    "bob@mail.example,Bob,Shop,2024-05-01,Yes please\n"
    "not-an-address,Cy,Shop,2024-05-01,Yes please\n"
)


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.IMPORT_FILE_ROOT = tmp_path / "imports"


@pytest.fixture
def importer(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="access_admin"), Permission.objects.get(codename="import_subscribers")
    )
    client.force_login(user)
    return client


def upload(client, text=CSV, name="people.csv"):
    return client.post(
        reverse("imports_admin:index"), {"file": SimpleUploadedFile(name, text.encode(), content_type="text/csv")}
    )


def test_staff_without_the_permission_neither_see_the_menu_nor_open_the_pages(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client.force_login(user)

    assert "Import subscribers" not in client.get("/admin/").content.decode()
    refused = client.get(reverse("imports_admin:index"))
    assert (refused.status_code, refused.url) == (302, "/admin/")  # Wagtail's answer to PermissionDenied
    assert upload(client).status_code == 302
    assert not SubscriberImport.objects.exists()


def test_upload_guesses_the_columns_and_the_dry_run_then_the_import_run_from_the_report(
    importer, django_capture_on_commit_callbacks
):
    home = importer.get("/admin/").content.decode()
    assert "Import subscribers" in home
    page = importer.get(reverse("imports_admin:index")).content.decode()
    assert "The size limit is 256 MiB" in page

    response = upload(importer)
    job = SubscriberImport.objects.get()
    assert response.url == reverse("imports_admin:mapping", args=[job.pk])
    assert import_file_path(job).is_file()
    assert job.mapping["email"] == "E-mail address" and job.mapping["consent_wording"] == "Consent wording"
    form = importer.get(response.url).content.decode()
    assert '<option value="E-mail address" selected>' in form

    data = {f"map_{field}": column for field, column in job.mapping.items()}
    data["topic"] = Topic.objects.get(is_default=True).pk
    with django_capture_on_commit_callbacks(execute=True):
        response = importer.post(reverse("imports_admin:mapping", args=[job.pk]), data)
    job.refresh_from_db()
    assert job.status == SubscriberImportStatus.CHECKED
    assert job.dry_run_report["refused_for_errors"] and not Subscriber.objects.exists()
    report = importer.get(response.url).content.decode()
    assert "Dry run: what the import would do" in report
    assert "1 row has errors, so nothing can be imported" in report
    assert "data-import-start" not in report

    data["skip_bad_rows"] = "on"
    with django_capture_on_commit_callbacks(execute=True):
        importer.post(reverse("imports_admin:mapping", args=[job.pk]), data)
    report = importer.get(reverse("imports_admin:detail", args=[job.pk])).content.decode()
    assert "Import 2 subscriptions" in report
    with django_capture_on_commit_callbacks(execute=True):
        importer.post(reverse("imports_admin:start", args=[job.pk]))

    job.refresh_from_db()
    assert job.status == SubscriberImportStatus.DONE
    assert job.report["subscriptions_created"] == 2 and job.created_by is not None
    assert Subscription.objects.filter(status="active").count() == 2
    assert job.stored_name == "" and job.file_deleted_at is not None, "the file goes when the import ends"
    assert importer.get(reverse("imports_admin:progress", args=[job.pk])).json()["status"] == "done"
    errors = importer.get(reverse("imports_admin:errors_csv", args=[job.pk])).content.decode()
    assert errors.splitlines() == ["line,column,problem", "4,E-mail address,is not a valid email address."]
    assert "not-an-address" not in str(SubscriberImport.objects.values().get())


def test_a_running_import_polls_through_the_shared_admin_script_and_its_json_names_the_phase(importer):
    upload(importer)
    job = SubscriberImport.objects.get()
    SubscriberImport.objects.filter(pk=job.pk).update(status=SubscriberImportStatus.IMPORTING)
    cache.set(PROGRESS_KEY.format(job.pk), {"phase": "writing", "rows": 1234, "percent": 62.5}, 60)

    page = importer.get(reverse("imports_admin:detail", args=[job.pk])).content.decode()
    progress = importer.get(reverse("imports_admin:progress", args=[job.pk])).json()

    assert "admin_progress.js" in page
    json_url = reverse("imports_admin:progress", args=[job.pk])
    assert f'data-progress-url="{json_url}" data-progress-every="1000" data-progress-live="true"' in page
    assert 'data-progress-state-key="status" data-progress-state="importing"' in page
    assert '<span data-progress-field="phase_text">Writing subscribers, subscriptions and consent events…' in page
    assert progress == {
        "status": "importing",
        "phase": "writing",
        "phase_text": "Writing subscribers, subscriptions and consent events…",
        "rows": 1234,
        "percent": 62.5,
    }


def test_a_refused_upload_says_why_and_keeps_nothing(importer, settings):
    response = upload(importer, text="")

    assert "The file is empty." in response.content.decode()
    assert not SubscriberImport.objects.exists()
    assert not any(settings.IMPORT_FILE_ROOT.iterdir())


def test_uploaded_files_are_deleted_after_a_day_and_unfinished_imports_expire(importer):
    upload(importer)
    job = SubscriberImport.objects.get()
    path = import_file_path(job)

    assert import_files_purge() == 0
    SubscriberImport.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert import_files_purge() == 1

    job.refresh_from_db()
    assert not path.exists()
    assert job.status == SubscriberImportStatus.EXPIRED


def test_a_second_delivery_of_the_task_while_the_first_runs_imports_nothing(importer):
    # Given an import queued to run, whose task a first worker has already started (it holds the run lock)
    upload(importer)
    job = SubscriberImport.objects.get()
    SubscriberImport.objects.filter(pk=job.pk).update(status=SubscriberImportStatus.IMPORTING)
    cache.add(RUN_LOCK_KEY.format(job.pk), 1, 60)

    # When the broker delivers the task again
    import_execute(import_id=job.pk, dry_run=False)

    # Then the second delivery neither imports nor finishes the job
    job.refresh_from_db()
    assert job.status == SubscriberImportStatus.IMPORTING and not Subscriber.objects.exists()
    assert import_file_path(job).is_file()


def test_the_import_permission_is_offered_in_settings_groups():
    offered = {p.codename for hook in hooks.get_hooks("register_permissions") for p in hook()}

    assert "import_subscribers" in offered


def test_staff_without_the_permission_cannot_tell_which_imports_exist(client, importer):
    upload(importer)
    job = SubscriberImport.objects.get()
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client.force_login(user)

    existing = client.get(reverse("imports_admin:detail", args=[job.pk]))
    missing = client.get(reverse("imports_admin:detail", args=[job.pk + 1000]))

    assert existing.status_code == missing.status_code == 302


def test_the_mapping_step_offers_each_attribute_with_its_column_guessed_and_the_import_sets_the_values(
    importer, django_capture_on_commit_callbacks
):
    from subscribers.models import Attribute, AttributeType, AttributeValue

    Attribute.objects.create(key="tier", label="Loyalty tier", type=AttributeType.CHOICE, choices=["Gold", "Silver"])
    Attribute.objects.create(key="spend", label="Spend", type=AttributeType.NUMBER)
    text = (
        "E-mail address,First name,Signup source,Consent date,Consent wording,Loyalty Tier,Spend\n"
        "ann@mail.example,Ann,Shop,2024-05-01,Yes please,silver,12.5\n"
        "bob@mail.example,Bob,Shop,2024-05-01,Yes please,platinum,\n"
    )

    response = upload(importer, text)
    job = SubscriberImport.objects.get()
    assert job.mapping["attribute:tier"] == "Loyalty Tier" and job.mapping["attribute:spend"] == "Spend"
    form = importer.get(response.url).content.decode()
    assert "Loyalty tier (attribute)" in form

    data = {f"map_{field}": column for field, column in job.mapping.items()}
    data["topic"] = Topic.objects.get(is_default=True).pk
    data["skip_bad_rows"] = "on"
    with django_capture_on_commit_callbacks(execute=True):
        importer.post(reverse("imports_admin:mapping", args=[job.pk]), data)
    job.refresh_from_db()
    assert job.dry_run_report["errors"] == [[3, "Loyalty Tier", "is not one of the choices (Gold, Silver)."]]
    with django_capture_on_commit_callbacks(execute=True):
        importer.post(reverse("imports_admin:start", args=[job.pk]))

    job.refresh_from_db()
    assert job.status == SubscriberImportStatus.DONE and job.report["attribute_values"] == 2
    assert {(v.attribute.key, v.text, v.number) for v in AttributeValue.objects.all()} == {
        ("tier", "Silver", None),
        ("spend", "", 12.5),
    }
    detail = importer.get(reverse("imports_admin:detail", args=[job.pk])).content.decode()
    assert "Attribute “tier”" in detail
