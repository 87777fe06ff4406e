"""Why a photo failed, in a clerk's words, with what to do about it.

The journal keeps the technical reason (``error``) for the run log and for whoever
debugs; the CSV's ``error`` column, the spreadsheet and the HTML report show this
sentence instead. Keys are the stable error codes of ``imaging.ImageError``, the
batch's pipeline and placement, and the API's JSON errors.
"""

from __future__ import annotations

from dataclasses import dataclass

RETAKE = "Retake the photo and put it in the incoming folder again."
SEND_AGAIN = "Send it again (copy it into the incoming folder once more); if that fails too, retake it."
NOT_A_PHOTO = "Take it out of the incoming folder; if it should be a photo, retake it."
NEXT_NIGHT = "Nothing to do: tonight's run tries it again."
TELL_IT = "Tell the IT contact; the photo itself is fine."


@dataclass(frozen=True)
class Reason:
    what: str  # what went wrong
    advice: str  # what the clerk does about it

    @property
    def sentence(self) -> str:
        return f"{self.what} {self.advice}"


REASONS = {
    "empty_file": Reason("The file is empty (nothing was copied into it).", SEND_AGAIN),
    "corrupt_image": Reason("The photo file is damaged (it may not have finished copying).", SEND_AGAIN),
    "truncated_image": Reason("The photo file is cut off (it did not finish copying).", SEND_AGAIN),
    "invalid_image": Reason("The photo could not be read.", SEND_AGAIN),
    "unsupported_format": Reason("This file is not a photo (or not a photo type we read: JPEG, PNG, "
                                 "HEIC, WebP, GIF, BMP, TIFF).", NOT_A_PHOTO),
    "image_too_large": Reason("The photo has far more pixels than any camera makes (it may be a "
                              "damaged or a generated file).", RETAKE),
    "file_too_large": Reason("The file is far larger than any photo.", RETAKE),
    "request_budget_exceeded": Reason("The photo was not looked at in time.", NEXT_NIGHT),
    "duplicate": Reason("The same photo was already classified before.",
                        "Nothing to do; check the earlier copy named here if in doubt."),
    "file_missing": Reason("The file disappeared from the incoming folder during the run.",
                           "If it was not moved on purpose, send it again."),
    "not_regular_file": Reason("This is not a photo file (a link or a folder took its place).", NOT_A_PHOTO),
    "still_being_written": Reason("The photo was still being copied when the run looked at it.", NEXT_NIGHT),
    "unreadable": Reason("The photo file could not be opened (no permission to read it).", TELL_IT),
    "destination_not_writable": Reason("The photo could not be put on its shelf folder (no permission).",
                                       TELL_IT),
    "move_failed": Reason("The photo could not be put on its shelf folder.", TELL_IT),
    "payload_too_large": Reason("The photo was too large to send for classification.", RETAKE),
    "unsupported_media_type": Reason("This file is not a photo.", NOT_A_PHOTO),
    "rate_limited": Reason("The classifier was busy.", NEXT_NIGHT),
    "unavailable": Reason("The classifier was not running.", NEXT_NIGHT),
    "internal_error": Reason("The classifier had a problem with this photo.", SEND_AGAIN),
}
UNKNOWN = Reason("The photo could not be classified.", SEND_AGAIN)


def reason_for(code: str | None, status: str = "error") -> Reason:
    """The clerk's reason for an error code (a generic one for codes without a sentence)."""
    if status == "duplicate":
        return REASONS["duplicate"]
    return REASONS.get(code or "", UNKNOWN)


def plain_error(code: str | None, technical: str, status: str = "error") -> str:
    """The sentence for a failure; a duplicate keeps its "duplicate of ..." detail (it names
    where the earlier copy is now)."""
    reason = reason_for(code, status)
    if status == "duplicate" and technical:
        return f"{reason.what} ({technical}). {reason.advice}"
    return reason.sentence
