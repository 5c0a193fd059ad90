"""A visual Turing test for clinicians: a self-contained page of real and generated images, and its scoring.

* :mod:`~ganaug.reader_study.settings` - the ``reader_study:`` config section, resolved;
* :mod:`~ganaug.reader_study.page` - the images, their order and ids (``key.csv``), the page (``index.html``);
* :mod:`~ganaug.reader_study.answers` - the answer files the page downloads, checked one by one;
* :mod:`~ganaug.reader_study.stats` - exact CI, binomial test, reader AUC, Fleiss' kappa;
* :mod:`~ganaug.reader_study.score` - the scores table, figure and summary.

See docs/reader-study.md. Nothing here imports torch.
"""

from ganaug.reader_study.answers import BadAnswers, collect_readers, read_answer_file
from ganaug.reader_study.page import draw_study, render_page, write_study
from ganaug.reader_study.score import score_table, summary_sentence, write_scores
from ganaug.reader_study.settings import UPSCALE_FILTERS, page_params, study_settings
from ganaug.reader_study.stats import binomial_p, clopper_pearson, fleiss_kappa, reader_auc, reader_metrics

__all__ = [
    "UPSCALE_FILTERS",
    "BadAnswers",
    "binomial_p",
    "clopper_pearson",
    "collect_readers",
    "draw_study",
    "fleiss_kappa",
    "page_params",
    "read_answer_file",
    "reader_auc",
    "reader_metrics",
    "render_page",
    "score_table",
    "study_settings",
    "summary_sentence",
    "write_scores",
    "write_study",
]
