"""Named exceptions. Each message is one sentence: which file, what is wrong, what to do.

Every exception the library raises on bad input derives from `WbsError`, so the CLI can print
the sentence instead of a traceback and batch steps can quarantine the file and go on.
"""

from __future__ import annotations


class WbsError(Exception):
    """Base class of every named wbs-accel error (bad input, bad parameters, missing resources)."""


# --- DICOM input -------------------------------------------------------------------------------
class DicomReadError(WbsError):
    """A file cannot be read as DICOM at all (not DICOM, truncated, unreadable pixel data)."""


class NotDicomError(DicomReadError):
    """The file is not a DICOM file."""


class TruncatedDicomError(DicomReadError):
    """The file ends before its pixel data (or a data element) is complete."""


class UnsupportedModalityError(DicomReadError):
    """The object is not a nuclear-medicine whole-body image (e.g. CT, MR)."""


class MissingAttributeError(DicomReadError):
    """A required attribute (e.g. Pixel Spacing) is absent."""


class FrameLayoutError(DicomReadError):
    """Frames do not form one ANT and one POST view (3 frames, vectors not matching, sizes differ)."""


class UnknownViewError(DicomReadError):
    """A View Code Sequence names a view that is neither anterior nor posterior."""


class SingleViewError(DicomReadError):
    """Only one view present and the caller did not allow single-view scans."""


class SpeedUnknownError(WbsError):
    """The scan's speed factor cannot be derived from its header and no override was given."""


class AlreadyEnhancedError(WbsError):
    """An enhanced (derived, 1x-equivalent) scan was given where an acquired fast scan is needed."""


# --- DICOM / file output -----------------------------------------------------------------------
class InvalidCountsError(WbsError):
    """An array to be written as counts holds NaN, infinite, negative or too large values."""


class OutputConflictError(WbsError):
    """The output path already holds a different file; nothing is overwritten."""


class OutputWriteError(WbsError):
    """An output folder cannot be written (read-only, full disk, no permission): the step stops at once."""


class UnreadableInputError(WbsError):
    """An input file or folder cannot be read (permission, I/O error, a symlink loop or a dangling link)."""


# --- manifest ------------------------------------------------------------------------------------
class ManifestError(WbsError):
    """A manifest is malformed (missing columns, bad values) or its files fail verification."""


class ChecksumMismatchError(ManifestError):
    """A file listed in a manifest is missing or its sha256 changed."""


# --- parameters ----------------------------------------------------------------------------------
class ParamsError(WbsError):
    """A params file or parameter value is invalid (unknown key, out of range, wrong type)."""


# --- models ----------------------------------------------------------------------------------------
class MissingWeightsError(WbsError):
    """A pretrained backbone (VGG16/VGG19/Inception) is absent from the torch cache or corrupt."""


class CheckpointError(WbsError):
    """A checkpoint is corrupt, incomplete, or does not match the requested architecture/size."""


class TrainingDataError(WbsError):
    """The training data cannot form the requested pairs (e.g. no standard scans for mode real)."""


# --- reader study / statistics --------------------------------------------------------------------
class ScoreSheetError(WbsError):
    """A score sheet has problems (unknown codes, duplicates, out-of-range values); lists them all."""


class ReaderStudyError(WbsError):
    """A reader-study step cannot run on the given reads (e.g. one reader where two are needed)."""


class StatisticsError(WbsError):
    """A statistic cannot be computed on the given data (e.g. a group with no cases)."""


# --- pipeline ----------------------------------------------------------------------------------------
class NotebookFailedError(WbsError):
    """A notebook failed while `wbs run` executed it."""


# --- image-quality metrics ------------------------------------------------------------------------
class MetricInputError(WbsError):
    """Images cannot be compared (shapes differ, no 1x reference for a study, no valid view)."""


class KernelSpecError(WbsError):
    """The Jupyter kernel `python3` is missing or runs another Python than the project's environment."""


# --- pseudonymisation --------------------------------------------------------------------------------
class PseudonymKeyError(WbsError):
    """The pseudonymisation key file is unreadable, too short, world-readable or inside the repository."""


# --- phantom -----------------------------------------------------------------------------------------
class PhantomTruthError(WbsError):
    """The phantom's truth files (patients, lesions, per-acquisition npz) are missing or malformed."""
