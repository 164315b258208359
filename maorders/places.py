"""Where maorders keeps its files on this machine: the site's settings, the journal, the logs.

Apart from `settings` so that modules read before the settings (the catalog's language, the
entry point) can find the settings file without importing the settings reader.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = "maorders"


def site_config_dir() -> Path:
    """Where the site's settings file lives: /etc/maorders on Linux, C:\\ProgramData\\maorders on Windows."""
    if sys.platform.startswith("linux"):
        return Path("/etc/maorders")
    import platformdirs

    return Path(platformdirs.site_config_dir(APP, appauthor=False))


def site_data_dir() -> Path:
    """The journal's home: /var/lib/maorders on Linux (systemd's StateDirectory=maorders);
    on Windows C:\\ProgramData\\maorders, the seed's place for module data."""
    if sys.platform.startswith("linux"):
        return Path("/var/lib/maorders")
    import platformdirs

    return Path(platformdirs.site_data_dir(APP, appauthor=False))


def default_log_dir(journal: Path) -> Path:
    """/var/log/maorders beside a Linux system install's journal; `logs` beside any other journal."""
    if sys.platform.startswith("linux") and journal == site_data_dir() / "journal.db":
        return Path("/var/log/maorders")
    return journal.parent / "logs"
