"""The administrators' backups page against the real binary: back up now,
list with verification state, verify (and detect tampering), download the
exact bytes the manifest hashes; non-administrators are refused."""

from __future__ import annotations

import hashlib
import re

from test_ui_access import accept, admin_client, invite, send_error


def test_backups_page(server):
    a = server.create_project("alpha")
    admin = admin_client(server)
    member = accept(server, invite(admin, "member@example.com", **{f"project_{a.id}": "member"}))
    assert member.get("/admin/backups").status == 403
    assert member.post("/admin/backups").status == 403

    send_error(server, a, "takes some space")
    page = admin.get("/admin/backups").text
    assert re.search(r'id="usage-by-signal".*?<td>events</td>', page, re.S), "disk usage per signal is shown"
    assert re.search(r'id="usage-by-project".*?<td>alpha</td>', page, re.S), "disk usage per project is shown"

    r = admin.post("/admin/backups")
    assert r.status == 303, r
    page = admin.get("/admin/backups").text
    names = re.findall(r'class="backup-name">([^<]+)<', page)
    assert names, page
    name = names[0]

    r = admin.post(f"/admin/backups/{name}/verify")
    assert r.status == 200 and 'id="verify-ok"' in r.text, r
    assert re.search(r"<td>projects</td><td>1</td>", r.text), "row counts per table are shown"
    page = admin.get("/admin/backups").text
    assert re.search(rf'backup-name">{re.escape(name)}<.*?backup-state"><span class="badge resolved">verified', page, re.S)

    dl = admin.get(f"/admin/backups/{name}/download")
    assert dl.status == 200 and dl.header("content-type") == "application/zstd", dl
    assert hashlib.sha256(dl.body).hexdigest() == dl.header("x-lookout-sha256")
    assert member.get(f"/admin/backups/{name}/download").status == 403

    # Tampering is reported by name.
    files = sorted((server.data_dir / "backups").glob(f"{name}*.zst"))
    assert files, list((server.data_dir / "backups").iterdir())
    data = bytearray(files[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[0].write_bytes(bytes(data))
    r = admin.post(f"/admin/backups/{name}/verify")
    assert r.status == 200 and 'id="verify-problems"' in r.text and files[0].name in r.text, r
