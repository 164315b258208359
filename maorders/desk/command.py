"""`maorders desk`: serve the staff desk (waitress, a pure-Python WSGI server that runs on Windows too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import typer

from maorders.desk import DEFAULT_PORT
from maorders.i18n import _


@dataclass(frozen=True)
class DeskSettings:
    host: str
    port: int
    password_hash: str | None = None
    poll_seconds: float = 3.0  # how often the needs-a-person list asks for new items


def read_settings(app_state: Any, host: str | None, port: int | None) -> DeskSettings:
    """MAORDERS_DESK_HOST (127.0.0.1), MAORDERS_DESK_PORT (8765), MAORDERS_DESK_PASSWORD,
    MAORDERS_DESK_POLL_SECONDS (3); the options win."""
    from maorders.desk import safety
    from maorders.errors import ConfigError
    from maorders.settings import Env, read_values

    env = Env(read_values(app_state.env_file))
    chosen_host = host or env.text("MAORDERS_DESK_HOST", "127.0.0.1")
    chosen_port = port if port is not None else env.integer("MAORDERS_DESK_PORT", DEFAULT_PORT, 1, 65535)
    if not 0 <= chosen_port <= 65535:
        raise ConfigError(_("--port must be 0..65535 (0: any free port, printed), got {chosen_port}").format(chosen_port=chosen_port))
    hashed = safety.password_hash(env.optional("MAORDERS_DESK_PASSWORD"))
    if not safety.is_loopback(chosen_host) and not hashed:
        raise ConfigError(_("the desk serves {chosen_host} only with MAORDERS_DESK_PASSWORD set (maorders desk "
                            "--hash-password makes its value); without it, only 127.0.0.1").format(chosen_host=chosen_host))
    poll = env.number("MAORDERS_DESK_POLL_SECONDS", 3, minimum=1, maximum=60)
    return DeskSettings(chosen_host, chosen_port, hashed, poll)


def build(app_state: Any, desk_settings: DeskSettings) -> Any:
    """The WSGI app for these settings (tests and the benchmark use it without a server)."""
    from maorders.desk import safety
    from maorders.desk import routes
    from maorders.desk.app import Desk, create_app

    desk = Desk(app_state, desk_settings.password_hash, safety.is_loopback(desk_settings.host),
                desk_settings.poll_seconds)
    app = create_app(desk)
    routes.register(app, desk)
    return app


def desk_help() -> str:
    return _("The staff desk: a web page on this computer for the people who act: what needs a person, and "
             "each configured connector's pages, with the same actions as its commands.\n\n"
             "Open {url} in a browser. Start it at log-on like `serve`; Ctrl+C stops.").format(
                 url="http://127.0.0.1:8765") + "\n\n" + _("Example: {command}").format(command="maorders desk")


def desk(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, "--host", help=_("The address to serve on (default MAORDERS_DESK_HOST, "
                                       "else 127.0.0.1). Any other than 127.0.0.1 needs MAORDERS_DESK_PASSWORD. "
                                       "Example: --host 192.168.1.20")),
    port: Optional[int] = typer.Option(None, "--port", help=_("The port (default MAORDERS_DESK_PORT, else 8765; 0: any "
                                       "free port, the address printed). Example: --port 8765")),
    hash_password: bool = typer.Option(False, "--hash-password", help=_("Ask for a password and print its hash, the "
                                       "value to put in MAORDERS_DESK_PASSWORD; serve nothing. "
                                       "Example: maorders desk --hash-password")),
) -> None:
    from maorders.errors import MaordersError
    from maorders.operator import app_state

    state = app_state(ctx)
    out = state.output
    if hash_password:
        from maorders.desk import safety

        password = typer.prompt(_("Password"), hide_input=True, confirmation_prompt=True)
        typer.echo(safety.make_hash(password))
        raise typer.Exit(0)
    try:
        chosen = read_settings(state, host, port)
        app = build(state, chosen)
    except MaordersError as exc:
        out.error(str(exc))
        raise typer.Exit(exc.exit_code)
    raise typer.Exit(serve(app, chosen, out))


def serve(app: Any, chosen: DeskSettings, out: Any) -> int:
    import waitress

    from maorders.errors import EXIT_UNAVAILABLE

    shown = f"[{chosen.host}]" if ":" in chosen.host else chosen.host
    try:
        server = waitress.create_server(app, host=chosen.host, port=chosen.port, threads=4, ident="maorders-desk")
    except OSError as exc:
        out.error(_("the desk cannot listen on {host}:{port}: {why}").format(host=chosen.host, port=chosen.port,
                                                                            why=exc.strerror))
        return EXIT_UNAVAILABLE
    out.info(_("the desk is at http://{host}:{port}/ (Ctrl+C stops it)").format(host=shown,
                                                                               port=server.effective_port))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
