"""Automatic checks for the lessons: one module per lesson, each check returns a CheckResult that
says what is wrong ("not done yet", a wrong shape, a known mistake); see ``sparselab.checks._core``."""

from ._core import CheckFailed, CheckResult, set_strict

__all__ = ["CheckResult", "CheckFailed", "set_strict"]
