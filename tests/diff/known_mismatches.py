"""Findings of the differential tests that are not fixed yet: corpus function id ("module.name") or whole
module -> what goes wrong. The tests mark these xfail(strict=True), so an entry must be removed as soon as the
construct works; the corpus itself is never weakened to hide a finding."""
from __future__ import annotations

# function id ("module.name") or module name -> reason. Filled from real findings only; strict xfail, so an
# entry must go as soon as the construct works.
KNOWN_MISMATCHES: dict[str, str] = {
}
