"""Janus (Debian's `janus` package, videoroom plugin) as the comparison server of `bench.sfu --vs-janus`.

Installs the package when missing (opt-in in scripts/ensure-system-deps.sh, `WITH_JANUS=1`), writes a minimal
configuration into a temp dir (only the videoroom plugin and the WebSocket transport; one VP8+Opus room with no
bitrate cap and no periodic keyframe requests, like the project's SFU), and starts it in the server namespace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.netns import NetPair

LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
ROOM = 1234
ENSURE = Path(__file__).resolve().parent.parent / "scripts" / "ensure-system-deps.sh"


def janus_binary() -> str | None:
    return shutil.which("janus") or (str(p) if (p := Path("/usr/bin/janus")).exists() else None)


def ensure_janus() -> str:
    """The janus binary, installing Debian's package (through the repo's system-deps script) when missing."""
    found = janus_binary()
    if found:
        return found
    subprocess.run(["bash", str(ENSURE)], check=True, env={**os.environ, "WITH_JANUS": "1"})
    found = janus_binary()
    if not found:
        raise RuntimeError("janus is not installed and could not be installed (apt-get install janus)")
    return found


def _so_names(folder: Path, keep: str) -> str:
    return ",".join(sorted(p.name for p in folder.glob("*.so") if p.name != keep))


def write_config(folder: Path, net: NetPair, port: int) -> None:
    (folder / "janus.jcfg").write_text(f"""general: {{
  configs_folder = "{folder}"
  plugins_folder = "{LIB / 'plugins'}"
  transports_folder = "{LIB / 'transports'}"
  events_folder = "{folder / 'none'}"
  loggers_folder = "{folder / 'none'}"
  debug_level = 3
  interface = "{net.server_ip}"
  session_timeout = 0
}}
media: {{
  rtp_port_range = "20000-40000"
}}
nat: {{
  nice_debug = false
  ice_enforce_list = "{net.server_ip}"
}}
plugins: {{
  disable = "{_so_names(LIB / 'plugins', 'libjanus_videoroom.so')}"
}}
transports: {{
  disable = "{_so_names(LIB / 'transports', 'libjanus_websockets.so')}"
}}
""")
    (folder / "none").mkdir(exist_ok=True)
    (folder / "janus.transport.websockets.jcfg").write_text(f"""general: {{
  json = "plain"
  ws = true
  ws_port = {port}
  ws_ip = "{net.server_ip}"
  wss = false
}}
admin: {{
  admin_ws = false
}}
""")
    (folder / "janus.plugin.videoroom.jcfg").write_text(f"""general: {{
}}
room-{ROOM}: {{
  description = "bench"
  publishers = 4
  bitrate = 0
  fir_freq = 0
  audiocodec = "opus"
  videocodec = "vp8"
}}
""")


@contextlib.contextmanager
def janus(net: NetPair, port: int) -> Iterator[tuple[int, Path]]:
    """Janus running in the server namespace until the WebSocket port accepts; yields (pid, log path)."""
    binary = ensure_janus()
    with tempfile.TemporaryDirectory(prefix="bench-janus-") as tmp:
        folder = Path(tmp)
        write_config(folder, net, port)
        log_path = folder / "janus.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(net.in_server([binary, "-F", str(folder), "-C", str(folder / "janus.jcfg")]),
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            if not net.wait_listening(port) or proc.poll() is not None:
                raise RuntimeError("janus did not start:\n" + log_path.read_text(errors="replace")[-3000:])
            yield proc.pid, log_path
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
