"""One ampkit sync per Amplitude project under Dagster, through Dagster's dlt integration
(``dagster-dlt``): each project is one dlt pipeline running ampkit's dlt source, each of its
streams a Dagster asset (``<project>/dlt_ampkit_events``, …), each project on its own hourly
schedule.  ampkit's cursor lives in the pipeline's dlt state, so every run reads on from
where the last one stopped.

    pip install 'ampkit[dagster]'
    export AMPKIT_PROJECTS=web,app               # one sync (one pipeline, one dataset) each
    export AMPLITUDE_WEB_API_KEY=… AMPLITUDE_WEB_SECRET_KEY=…
    export AMPLITUDE_APP_API_KEY=… AMPLITUDE_APP_SECRET_KEY=…
    dagster dev -f examples/dagster_amplitude.py

Optional: ``AMPLITUDE_<PROJECT>_BASE_URL`` (EU, or a local ``ampkit serve``),
``AMPKIT_STREAMS`` (default ``events,active_users``), ``AMPKIT_ANCHOR_DATE`` (the first day
of the first run), ``AMPKIT_EXPORT_DELAY_HOURS`` (default 2; 0 against ``ampkit serve``),
``AMPKIT_DLT_DESTINATION`` (default ``duckdb``: ``ampkit_<project>.duckdb``; any dlt
destination, its credentials in dlt's ``DESTINATION__…`` variables or ``.dlt/secrets.toml``).
"""

import os
import re
from collections.abc import Iterator
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from ampkit.replicate.dlt_source import amplitude_source

PROJECT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def projects() -> list[str]:
    names = [p.strip() for p in os.environ.get("AMPKIT_PROJECTS", "web").split(",")]
    for name in names:
        if not PROJECT_NAME.match(name):
            raise ValueError(f"AMPKIT_PROJECTS: {name!r} must be lower-case letters, digits "
                             "and _, starting with a letter")
    return names


def project_source(project: str) -> Any:
    """ampkit's dlt source for one project, its keys from ``AMPLITUDE_<PROJECT>_…``."""
    prefix = f"AMPLITUDE_{project.upper()}_"
    delay = os.environ.get("AMPKIT_EXPORT_DELAY_HOURS")
    return amplitude_source(
        os.environ.get("AMPKIT_STREAMS", "events,active_users").split(","),
        api_key=os.environ[prefix + "API_KEY"],
        secret_key=os.environ[prefix + "SECRET_KEY"],
        base_url=os.environ.get(prefix + "BASE_URL"),
        anchor_date=os.environ.get("AMPKIT_ANCHOR_DATE"),
        export_delay_hours=int(delay) if delay else None,
    )


def project_pipeline(project: str) -> Any:
    return dlt.pipeline(pipeline_name=f"ampkit_{project}",
                        destination=os.environ.get("AMPKIT_DLT_DESTINATION", "duckdb"),
                        dataset_name=f"amplitude_{project}")


class ProjectTranslator(DagsterDltTranslator):
    """The project's name before each asset key (every project has an ``events`` resource)."""

    def __init__(self, project: str) -> None:
        self.project = project

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(key=spec.key.with_prefix(self.project),
                                       group_name=f"amplitude_{self.project}")


def project_assets(project: str) -> dg.AssetsDefinition:
    @dlt_assets(dlt_source=project_source(project), dlt_pipeline=project_pipeline(project),
                name=f"amplitude_{project}", dagster_dlt_translator=ProjectTranslator(project))
    def sync(context: dg.AssetExecutionContext, dlt: DagsterDltResource) -> Iterator[Any]:
        # a new source each run: dagster-dlt's column metadata is taken by popping keys off
        # the live dlt schema (dagster-io/dagster#34052), which breaks a source run twice in
        # one process; a fresh one also reads each project's keys at run time
        yield from dlt.run(context=context, dlt_source=project_source(project))

    return sync


def project_schedule(project: str) -> dg.ScheduleDefinition:
    """Hourly, a quarter past: Amplitude makes an hour exportable ~2 h after it closes."""
    return dg.ScheduleDefinition(name=f"amplitude_{project}_hourly", cron_schedule="15 * * * *",
                                 target=dg.AssetSelection.groups(f"amplitude_{project}"))


defs = dg.Definitions(
    assets=[project_assets(p) for p in projects()],
    schedules=[project_schedule(p) for p in projects()],
    resources={"dlt": DagsterDltResource()},
)
