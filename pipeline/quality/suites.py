"""The expectation suites: their JSON, their parameters, GX's context and validation.

The suites live in ``config/expectations/<table>.json`` (GX Core 1.x suite JSON). Each
row-level expectation carries ``meta.rule`` (a :class:`pipeline.contract.QuarantineRule`),
``meta.field`` and ``meta.reason`` (the sentence an analyst reads); suite parameters
(``{"$PARAMETER": "grade_min"}``) come from ``district.yml``. GX is imported once per
run with usage statistics off, in an ephemeral context: nothing leaves the run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path

import pandas as pd

from pipeline.config import PACKAGE_CONFIG_DIR, DistrictConfig
from pipeline.errors import InputError
from pipeline.quality.distinct import RESULT_FORMAT, DistinctValues, plan, shape_engine

EXPECTATIONS_DIR = PACKAGE_CONFIG_DIR / "expectations"
TABLE_ORDER = ("students", "screenings", "interventions", "progress")
logger = logging.getLogger(__name__)

_GX = None


def gx():
    """Great Expectations, imported once per process with usage statistics off."""
    global _GX
    if _GX is None:
        os.environ["GX_ANALYTICS_ENABLED"] = "False"
        import great_expectations

        _GX = great_expectations
    return _GX


def load_suite_specs(directory: Path | str = EXPECTATIONS_DIR) -> dict[str, dict]:
    """The suite JSON of every canonical table."""
    directory = Path(directory)
    specs = {}
    for table in TABLE_ORDER:
        path = directory / f"{table}.json"
        try:
            specs[table] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise InputError(path, "expectation suite not found") from err
        except json.JSONDecodeError as err:
            raise InputError(path, f"not valid JSON: {err}") from err
    return specs


def suite_parameters(config: DistrictConfig) -> dict:
    """The values of the suites' ``$PARAMETER``s, from ``district.yml``."""
    return {
        "grade_min": config.grades.min,
        "grade_max": config.grades.max,
        "measures": sorted(config.measures),
    }


def expectations_of(spec: dict) -> list:
    """The GX expectations of a suite's JSON."""
    gx()
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    return [
        ExpectationConfiguration(
            type=e["type"],
            kwargs=e["kwargs"],
            meta=e.get("meta", {}),
            description=e.get("description"),
        ).to_domain_obj()
        for e in spec["expectations"]
    ]


class Validator:
    """One ephemeral GX context per run; one validation definition per table."""

    def __init__(self, specs: dict[str, dict]):
        g = gx()
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
        )

        # In memory, no default docs site, no usage statistics: nothing leaves the run.
        project = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
        )
        self.specs = specs
        self.context = g.get_context(mode="ephemeral", project_config=project)
        self.context.variables.progress_bars = {"globally": False}
        source = self.context.data_sources.add_pandas("tierwise")
        self.batches, self.suites, self.batch_ids = {}, {}, {}
        for table, spec in specs.items():
            self.batches[table] = source.add_dataframe_asset(
                table
            ).add_batch_definition_whole_dataframe("ingest run")
            expectations = expectations_of(spec)
            self.suites[table] = self.context.suites.add(
                g.ExpectationSuite(name=table, expectations=expectations, meta=spec.get("meta", {}))
            )

    def validate(self, table: str, frame: pd.DataFrame, parameters: dict, distinct: bool = True):
        """Validate one table; COMPLETE results list every failing row's index.

        With ``distinct`` (and a suite :func:`~pipeline.quality.distinct.plan` finds
        row-wise), GX validates each distinct value of a column (each distinct tuple of
        the columns row-wise expectations read together) once, and the results are mapped
        back to every row that holds it: exactly the result of a row-by-row run, at the
        cost of the distinct values. Results are not stored here (storing every index
        costs as much as the checks): the Data Docs store a trimmed copy later."""
        if not distinct or not len(frame):
            return self._validate(table, frame, parameters)
        engine = shape_engine(frame)
        suite = plan(self.suites[table].expectations, engine)
        if suite.rows_because:
            logger.warning(
                "suite %s is validated row by row, not on distinct values: %s",
                table,
                suite.rows_because,
            )
            return self._validate(table, frame, parameters)
        values = DistinctValues.of(frame, suite.groups, suite.nullness)
        result = self._validate(table, values.frame, parameters)
        values.expand(result, suite, engine, RESULT_FORMAT)
        return result

    def _validate(self, table: str, frame: pd.DataFrame, parameters: dict):
        batch = self.batches[table].get_batch(batch_parameters={"dataframe": frame})
        self.batch_ids[table] = batch.id
        return batch.validate(
            self.suites[table], result_format=dict(RESULT_FORMAT), expectation_parameters=parameters
        )

    def store_for_docs(self, table: str, result) -> None:
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        suite_id = ExpectationSuiteIdentifier(name=table)
        run_id = RunIdentifier(run_name="tierwise ingest", run_time=dt.datetime.now(dt.UTC))
        self.context.validation_results_store.store_validation_results(
            suite_validation_result=result,
            suite_validation_result_identifier=ValidationResultIdentifier(
                expectation_suite_identifier=suite_id,
                run_id=run_id,
                batch_identifier=self.batch_ids[table],
            ),
            expectation_suite_identifier=suite_id,
        )
