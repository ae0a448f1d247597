"""A synthetic district with planted truth, written in the canonical CSV layout.

Everything is drawn from one seed, so the same seed gives byte-identical files.

Model, per student and subject:

* a latent standing ``z`` (standard normal, shifted by school and subgroup) fixes the
  student's norm percentile; the true fall score is the published norm at that
  percentile (Hasbrouck & Tindal 2017 ORF for grades 1-6, simple tables elsewhere);
* true growth from fall to spring is the norm growth at that percentile plus
  individual noise; scores are observed with measurement error;
* students below the 25th percentile in fall are "at risk"; a random 30 % of them
  (``unserved_share``) is not enrolled, as limited staff capacity leaves some out in
  real schools, so a comparison group at the same fall level exists;
* an enrolled student's true score gains ``effect_sd x SD`` by spring over what the
  same student would have had without the program, accruing linearly in weeks since
  the fall screening, where SD is the standard deviation of the observed fall scores
  of the student's grade on that measure across the district. This is the planted
  truth the effectiveness statistics must recover (``_truth.json``).

One module per table or phenomenon: ``spec`` (size, seed, programs, calendar), ``norms``
(norm tables, score <-> percentile), ``students`` (roster and standing), ``scores``
(screenings), ``subtests`` (DIBELS 8 subtests), ``interventions`` (enrolment, sessions,
groups), ``probes`` (progress monitoring), ``staff``, ``overrides``, ``defects``,
``district`` (the order of the draws and the planted truth) and ``write``.
"""

from pipeline.synth.defects import inject_defects
from pipeline.synth.district import generate, planted_truth
from pipeline.synth.norms import percentile_of, quantile_tables, reading_measure, score_at_z
from pipeline.synth.overrides import overrides_table
from pipeline.synth.spec import PROGRAMS, SCHOOL_YEAR, WINDOW_WEEK, SynthSpec
from pipeline.synth.staff import INTERVENTIONISTS, hash_index, staff_table
from pipeline.synth.subtests import reading_subtests
from pipeline.synth.write import write_csv, write_district

__all__ = [
    "INTERVENTIONISTS",
    "PROGRAMS",
    "SCHOOL_YEAR",
    "WINDOW_WEEK",
    "SynthSpec",
    "generate",
    "hash_index",
    "inject_defects",
    "overrides_table",
    "percentile_of",
    "planted_truth",
    "quantile_tables",
    "reading_measure",
    "reading_subtests",
    "score_at_z",
    "staff_table",
    "write_csv",
    "write_district",
]
