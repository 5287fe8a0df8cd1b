"""Multi-account support must not change a single-account configuration by one byte.

``fixtures/single-account-manifests.sha256`` holds the SHA-256 of every manifest (and the pipeline diagram) that
``regionflow preview`` wrote for the repository's sample stacks on main at 6d0910d, before accounts were added
(generated with ``regionflow preview --out DIR`` and ``sha256sum``, committed before any accounts code), and the
accounts branch kept them byte for byte. Since then it is regenerated only for an intended change of the sample's
resources, each named here: drift reading the last succeeded execution (its role's ListPipelineExecutions) and
the approval moved before UpdatePipeline. The repository's samples name no ``account``: the same preview must
write exactly those bytes.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from offline_support import REPO_ROOT

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "foundation"))
from preview_support import preview

FIXTURE = Path(__file__).parent / "fixtures" / "single-account-manifests.sha256"


def test_single_account_manifests_are_byte_identical(tmp_path: Path) -> None:
    expected = dict(reversed(line.split()) for line in FIXTURE.read_text().splitlines() if line.strip())
    out = tmp_path / "manifests"
    code, output = preview(REPO_ROOT, "--quiet", out_dir=out)
    assert code == 0, output
    actual = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(out.iterdir())}
    assert actual == expected
