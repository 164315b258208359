"""The `maorders` command. Thin: parse, call, print. Heavy modules are imported per command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from maorders.output import Output
from maorders.runner import AppState, guarded, run_pass

app = typer.Typer(
    name="maorders",
    help="Keep the pharmacy, courier, loyalty and clinic back office in sync with the services "
         "they sell through. Each pass is idempotent: schedule it every 10 minutes.\n\n"
         "Example: maorders --env-file C:\\ProgramData\\maorders\\maorders.env pull-orders",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
bookings = typer.Typer(help="Internet-order bookings at the pharmacy (MegApteka).\n\n"
                            "Example: maorders bookings list --cancelled-by-client",
                       no_args_is_help=True)
app.add_typer(bookings, name="bookings")
shipments = typer.Typer(help="Courier shipments: RetailCRM orders sent to MeaSoft and their delivery statuses.\n\n"
                             "Example: maorders shipments list --problems",
                        no_args_is_help=True)
app.add_typer(shipments, name="shipments")

ONLY = typer.Option(None, "--only", help="Limit the pass to these connectors, comma-separated. "
                                         "Example: --only megapteka", metavar="NAME[,NAME]")


def state(ctx: typer.Context) -> AppState:
    return ctx.obj


@app.callback()
def main_options(
    ctx: typer.Context,
    env_file: Optional[Path] = typer.Option(None, "--env-file", help="Settings file (KEY=value lines). "
                                            "The real environment wins over it. Example: --env-file maorders.env"),
    journal: Optional[Path] = typer.Option(None, "--journal", help="The SQLite journal file "
                                           "(default MAORDERS_JOURNAL). Example: --journal ./journal.db"),
    json_mode: bool = typer.Option(False, "--json", help="Print one JSON object on stdout for scripts. "
                                   "Example: maorders --json status"),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="More progress lines on stderr."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only errors on stderr."),
) -> None:
    """Global options come before the command."""
    ctx.obj = AppState(Output(json_mode=json_mode, quiet=quiet, verbose=verbose), env_file, journal)


def _only(value: Optional[str]) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _exit(code: int) -> None:
    raise typer.Exit(code)


# -- the six passes -------------------------------------------------------------------------
@app.command("export-stock")
def export_stock(
    ctx: typer.Context,
    stock_file: Optional[Path] = typer.Option(None, "--stock-file", help="Read this stock export instead "
                                              "of MEGAPTEKA_STOCK_FILE. Example: --stock-file ostatki.csv"),
    only: Optional[str] = ONLY,
) -> None:
    """Upload the pharmacy's stock (default department, less what bookings hold) to MegApteka.

    Example: maorders export-stock --stock-file ostatki.csv
    """
    _exit(run_pass(state(ctx), "export-stock", _only(only), {"stock_file": stock_file}))


@app.command("pull-orders")
def pull_orders(ctx: typer.Context, only: Optional[str] = ONLY) -> None:
    """megapteka: book new site orders against stock (all / part / none) and queue their statuses;
    courier: send RetailCRM orders that reached a send status to MeaSoft.

    Example: maorders pull-orders --only megapteka
    """
    _exit(run_pass(state(ctx), "pull-orders", _only(only)))


@app.command("push-statuses")
def push_statuses(ctx: typer.Context, only: Optional[str] = ONLY) -> None:
    """megapteka: apply the site's events (3 cancel, 8 confirm), then send queued statuses;
    courier: MeaSoft's changed statuses and payments to RetailCRM, then commit the poll.

    Example: maorders push-statuses
    """
    _exit(run_pass(state(ctx), "push-statuses", _only(only)))


@app.command("expire-bookings")
def expire_bookings(ctx: typer.Context, only: Optional[str] = ONLY) -> None:
    """Delete bookings past MEGAPTEKA_BOOKING_TTL_HOURS, release their stock, queue status 3.

    Example: maorders expire-bookings
    """
    _exit(run_pass(state(ctx), "expire-bookings", _only(only)))


# -- bookings -----------------------------------------------------------------------------
ORDER_ARG = typer.Argument(..., help="The order as people know it: its site number (MA-1042) or id (1042).")


def _with_journal(ctx: typer.Context, action: Callable[[Any], int]) -> None:
    app_state = state(ctx)

    def run() -> int:
        journal = app_state.open_journal()
        try:
            return action(journal)
        finally:
            journal.close()

    _exit(guarded(app_state, run))


@bookings.command("list")
def bookings_list(
    ctx: typer.Context,
    booking_state: Optional[str] = typer.Option(None, "--state", help="Only this booking or order state "
                                                "(New, Closed, Issued, Deleted, or an order state). "
                                                "Example: --state New"),
    cancelled_by_client: bool = typer.Option(False, "--cancelled-by-client", help="The saved filter: "
                                             "«Аннулирован клиентом» and not deleted — bookings to unbook."),
) -> None:
    """List orders and their bookings, newest first.

    Example: maorders bookings list --state New
    """
    def action(journal: Any) -> int:
        from maorders.megapteka import desk, store

        rows = store.list_orders(journal, booking_state, cancelled_by_client)
        out = state(ctx).output
        if out.json_mode:
            out.emit_json({"command": "bookings list", "exit_code": 0, "bookings": [desk.public(r) for r in rows]})
        else:
            out.table("Bookings", ["number", "id", "booking", "order state", "outcome", "booked at"],
                      [(r["number"], r["id"], r["booking_state"] or "-", r["order_state"], r["outcome"],
                        r["booked_at"] or "") for r in rows])
        return 0

    _with_journal(ctx, action)


@bookings.command("show")
def bookings_show(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    """Show one order: its lines, what is booked, its statuses and their sending.

    Example: maorders bookings show MA-1042
    """
    def action(journal: Any) -> int:
        from maorders.megapteka import desk

        detail = desk.detail(journal, order)
        out = state(ctx).output
        if out.json_mode:
            out.emit_json({"command": "bookings show", "exit_code": 0, "booking": detail})
            return 0
        out.info(f"{detail['number']} (id {detail['id']}): booking {detail['booking_state'] or '-'}, "
                 f"«{detail['order_state']}», {detail['outcome']}")
        if detail["problem"]:
            out.warn(detail["problem"])
        out.table("Lines", ["line", "name", "stock sku", "ordered", "booked", "price"],
                  [tuple(line.values()) for line in detail["lines"]])
        out.table("Statuses", ["status", "state", "attempts", "last error", "sent at"],
                  [tuple(s.values()) for s in detail["statuses"]])
        return 0

    _with_journal(ctx, action)


def _booking_action(ctx: typer.Context, order: str, action_name: str) -> None:
    def action(journal: Any) -> int:
        from maorders.megapteka import desk

        result = desk.act(journal, order, action_name)
        out = state(ctx).output
        if out.json_mode:
            out.emit_json({"command": f"bookings {action_name}", "exit_code": 0, "booking": result})
        else:
            queued = f"; status {result['queued_status']} queued for push-statuses" if result["queued_status"] else ""
            out.info(f"{result['number']}: booking {result['booking_state']}, «{result['order_state']}»{queued}")
        return 0

    _with_journal(ctx, action)


@bookings.command("request-confirmation")
def bookings_request_confirmation(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    """Close the booking and ask the customer to accept what can be given (status 7 with the items).

    Example: maorders bookings request-confirmation MA-1042
    """
    _booking_action(ctx, order, "request-confirmation")


@bookings.command("ready")
def bookings_ready(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    """The order is assembled and ready to be given (status 5).

    Example: maorders bookings ready MA-1042
    """
    _booking_action(ctx, order, "ready")


@bookings.command("issue")
def bookings_issue(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    """The order was sold at the till (status 2); its booking stops holding stock.

    Example: maorders bookings issue MA-1042
    """
    _booking_action(ctx, order, "issue")


@bookings.command("delete")
def bookings_delete(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    """Unbook: delete the booking and release its stock (status 3 unless the site cancelled it).

    Example: maorders bookings delete MA-1042
    """
    _booking_action(ctx, order, "delete")


# -- shipments (courier) -------------------------------------------------------------------
SHIPMENT_ARG = typer.Argument(..., help="The CRM order number (1001A), the CRM order id (1) "
                                        "or the MeaSoft orderno.")


@shipments.command("list")
def shipments_list(
    ctx: typer.Context,
    shipment_state: Optional[str] = typer.Option(None, "--state", help="Only this shipment state (queued, sent, "
                                                 "rejected, cancelling, cancelled), MeaSoft status or CRM "
                                                 "status. Example: --state COMPLETE"),
    problems: bool = typer.Option(False, "--problems", help="Only shipments with a problem a person must see."),
) -> None:
    """List shipments, newest first: CRM order ↔ MeaSoft orderno, last statuses, problems.

    Example: maorders shipments list --problems
    """
    def action(journal: Any) -> int:
        from courier import desk

        rows = desk.rows(journal, shipment_state, problems)
        out = state(ctx).output
        if out.json_mode:
            out.emit_json({"command": "shipments list", "exit_code": 0, "shipments": rows})
        else:
            out.table("Shipments", ["CRM order", "CRM id", "MeaSoft orderno", "state", "MeaSoft status",
                                    "CRM status", "problem"],
                      [(r["crm_number"], r["crm_order_id"], r["orderno"], r["state"],
                        f"{r['measoft_status'] or '-'} {r['measoft_title'] or ''}".strip(), r["crm_status"] or "-",
                        r["error"] or "") for r in rows])
        return 0

    _with_journal(ctx, action)


@shipments.command("show")
def shipments_show(ctx: typer.Context, shipment: str = SHIPMENT_ARG) -> None:
    """Show one shipment: both numbers, every MeaSoft status it went through, every send.

    Example: maorders shipments show 1001A
    """
    def action(journal: Any) -> int:
        from courier import desk

        detail = desk.detail(journal, shipment)
        out = state(ctx).output
        if out.json_mode:
            out.emit_json({"command": "shipments show", "exit_code": 0, "shipment": detail})
            return 0
        out.info(f"CRM order {detail['crm_number']} (id {detail['crm_order_id']}) ↔ MeaSoft {detail['orderno']}"
                 f"{' (' + detail['awb'] + ')' if detail['awb'] else ''}: {detail['state']}, MeaSoft "
                 f"{detail['measoft_status'] or '-'}, CRM {detail['crm_status'] or '-'}")
        if detail["error"]:
            out.warn(detail["error"])
        out.table("MeaSoft statuses", ["status", "title", "event time", "paytype", "price", "refused items",
                                       "CRM status"],
                  [(s["status"], s["title"], s["event_time"], s["paytype"], s["price"], s["returns"],
                    s["crm_status"] or "-") for s in detail["statuses"]])
        out.table("Sends", ["kind", "state", "attempts", "last error", "sent at"],
                  [tuple(s.values()) for s in detail["sends"]])
        return 0

    _with_journal(ctx, action)


# -- status, doctor, demo, sandbox ----------------------------------------------------------------
@app.command("status")
def status(
    ctx: typer.Context,
    check: bool = typer.Option(False, "--check", help="Exit 1 when something needs a person "
                               "(failed sends, unseen notifications about problems)."),
    ack: bool = typer.Option(False, "--ack", help="Mark the refused sends and the notifications as seen by "
                             "a person, so that --check stops reporting them. Example: maorders status --ack"),
) -> None:
    """The journal at a glance: pending and failed sends, notifications, last runs.

    Example: maorders status --check
    """
    def action(journal: Any) -> int:
        from maorders import health

        return health.show_status(journal, state(ctx).output, check, ack)

    _with_journal(ctx, action)


@app.command("doctor")
def doctor(ctx: typer.Context) -> None:
    """Check settings, the journal, and that every configured service answers and accepts us.

    Example: maorders --env-file maorders.env doctor
    """
    from maorders import health

    app_state = state(ctx)
    _exit(guarded(app_state, lambda: health.doctor(app_state)))


@app.command("demo")
def demo(
    ctx: typer.Context,
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Where the demo keeps its journal and "
                                           "files (default: a new temporary folder). Example: --workdir ./demo"),
) -> None:
    """A full cycle against the built-in emulators, no settings needed.

    Example: maorders demo
    """
    from maorders import demo as demo_module

    _exit(demo_module.run(state(ctx), workdir))


@app.command("sandbox")
def sandbox(
    ctx: typer.Context,
    port: int = typer.Option(8081, "--port", help="First port; each emulator takes the next one. "
                             "Example: --port 9000"),
) -> None:
    """Run the emulators alone, for trying real settings by hand (Ctrl+C stops them).

    Example: maorders sandbox --port 8081
    """
    from maorders import demo as demo_module

    _exit(demo_module.sandbox(state(ctx), port))


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("interrupted\n")
        code = 130
    except typer.exceptions.TyperException as exc:  # click's usage errors: 2, one JSON object with --json
        exc.show()
        code = getattr(exc, "exit_code", 2)
        if "--json" in sys.argv[1:]:
            names = typer.main.get_command(app).commands  # type: ignore[attr-defined]
            command = next((arg for arg in sys.argv[1:] if arg in names), "")
            Output(json_mode=True).emit_json({"command": command, "exit_code": code,
                                              "error": exc.format_message()})
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
