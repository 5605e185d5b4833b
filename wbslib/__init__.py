"""wbs-accel: deep-learning enhancement of fast whole-body bone scans.

RESEARCH USE – NOT FOR DIAGNOSIS. See README.md and the design notes in the notebooks.
"""

__version__ = "0.1.0"

RESEARCH_USE = "RESEARCH USE – NOT FOR DIAGNOSIS"
