"""Data-quality reports: what in a register looks wrong, record by record, with fixes proposed.

Five kinds of finding, each naming the record (and field) it is about:

- ``duplicate``: live records whose names are the same once case, spacing, punctuation, "&"
  and a leading "The" are set aside (the later one is proposed for ending);
- ``dangling-link``: a link (a linked field, or a CURIE) to a record that does not exist;
- ``invalid-value``: a value that breaks today's datatype rules (legacy data; trimmed spaces and
  unpadded dates are proposed as fixes);
- ``ended-but-linked``: an ended record still named by live records, here or in other registers
  (the finding names the linking record);
- ``missing-value``: a field left empty where at least 90% of live records fill it.

A fix is a proposal (add/amend/end and fields) the custodian can review and approve; ``check``
with ``propose`` files them, each through ``proposals.propose`` (checked like a real change).

A report reads the whole register, so it is never made on request: ``registers check`` makes it
and stores it (``stored``, every finding), and ``/<register>/quality`` serves the last one
stored, a page of one kind at a time.

The report is made in passes, each a module: ``survey`` reads every record once (counts,
invalid values, dangling links; names, ended keys and links to itself put aside in a scratch
file), then ``duplicates``, ``ended`` and ``report``'s check of missing values read what was
put aside (or the records again); ``fixes`` files a report's fixes as proposals; ``stored``
keeps a report and reads it back a page at a time.
"""

from .findings import KINDS, QualityFinding, QualityReport
from .fixes import SOURCE, Proposed, propose_fixes
from .report import check
from .stored import NoReport, ReportPage, StoredReport, make_report, report_page
from .survey import normalised_name

__all__ = ["KINDS", "SOURCE", "NoReport", "Proposed", "QualityFinding", "QualityReport", "ReportPage",
           "StoredReport", "check", "make_report", "normalised_name", "propose_fixes", "report_page"]
