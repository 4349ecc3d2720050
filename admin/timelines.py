"""Audit timeline pages (of a service, of a customer): filter, page through, export as CSV.

The views own the subject and its permission; this module reads the filter form, shapes
the page's links and writes the CSV, so both timelines behave the same.
"""

from flask import request, url_for

from admin.formatters import changes_as_text, format_sast_iso
from admin.forms import TimelineFilterForm
from admin.views import csv_response
from app.audit import NO_FILTER, TimelineEntry, TimelineFilter, TimelinePage

TIMELINE_PAGE_SIZE = 50
# An export is one bounded query; a longer history is exported in date ranges.
TIMELINE_EXPORT_MAX_ROWS = 10_000
CSV_HEADER = ["When (SAST)", "Who", "Action", "Subject", "Reason", "Notes", "Changes"]


def read_timeline_filter(actions: list[str]) -> tuple[TimelineFilterForm, TimelineFilter]:
    """The filter typed into the page's GET form; invalid input filters nothing (the form
    shows why)."""
    form = TimelineFilterForm(request.args)
    form.action.choices = [("", "All actions")] + [
        (action, action.replace("_", " ")) for action in actions
    ]
    if not form.validate():
        return form, NO_FILTER
    return form, TimelineFilter(
        action=form.action.data or None,
        actor=(form.actor.data or "").strip() or None,
        since=form.since.data,
        until=form.until.data,
    )


def requested_page() -> int:
    """The zero-based page number asked for (`page`, default the first)."""
    return max(request.args.get("page", 0, type=int), 0)


def timeline_links(page: TimelinePage, page_number: int, csv_endpoint: str) -> dict:
    """Page count, previous/next page URLs and the export URL, all keeping the filter."""
    filter_args = {
        name: request.args[name] for name in TimelineFilterForm.FILTER_ARGS if name in request.args
    }
    pages = max((page.total + TIMELINE_PAGE_SIZE - 1) // TIMELINE_PAGE_SIZE, 1)

    def page_url(number: int) -> str:
        return url_for(request.endpoint, **request.view_args, **filter_args, page=number)

    return {
        "page_number": page_number,
        "pages": pages,
        "previous_url": page_url(page_number - 1) if page_number > 0 else None,
        "next_url": page_url(page_number + 1) if page_number + 1 < pages else None,
        "export_url": url_for(csv_endpoint, **request.view_args, **filter_args),
    }


def timeline_csv(filename: str, entries: list[TimelineEntry]):
    """The entries as CSV, formula cells escaped (by `csv_response`)."""
    return csv_response(
        filename,
        CSV_HEADER,
        (
            [
                format_sast_iso(entry.at),
                entry.actor,
                entry.action,
                entry.subject,
                entry.reason,
                entry.notes or "",
                changes_as_text(entry.changes),
            ]
            for entry in entries
        ),
    )
