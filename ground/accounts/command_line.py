"""``python -m ground users``: the account store's command line.

    add NAME --role viewer|operator|admin [--no-password]
                     a new account; its password is read from standard input (asked twice at a
                     terminal); --no-password: an account that uses tokens only
    list             the accounts, their roles and tokens in force
    remove NAME      an account and its tokens
    token NAME --out FILE
                     a new station token for NAME in FILE (mode 0600)
    revoke TOKEN_ID  a token stops working at once, on every connection that used it

Every subcommand takes --users FILE, the store (default ground-state/users.sqlite).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from ground.accounts.credentials import write_token_file
from ground.accounts.store import AccountError, AccountStore, Role

DEFAULT_STORE = Path("ground-state/users.sqlite")


def add_users_arguments(parser: argparse.ArgumentParser) -> None:
    """``--users FILE``, as every command that uses the account store takes it."""
    parser.add_argument(
        "--users",
        type=Path,
        default=DEFAULT_STORE,
        help=f"the account store (python -m ground users; default {DEFAULT_STORE})",
    )


def add_users_commands(sub: argparse._SubParsersAction) -> None:
    """The ``users`` subcommand and its own subcommands."""
    users = sub.add_parser("users", help="operator accounts, roles and station tokens")
    what = users.add_subparsers(dest="users_cmd", required=True)
    add = what.add_parser("add", help="add an account (password on standard input)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.label for r in Role])
    add.add_argument("--no-password", action="store_true", help="tokens only")
    listing = what.add_parser("list", help="list the accounts")
    listing.add_argument("--json", action="store_true", help="print JSON for machines")
    remove = what.add_parser("remove", help="remove an account and its tokens")
    remove.add_argument("name")
    token = what.add_parser("token", help="issue a station token into a file (mode 0600)")
    token.add_argument("name")
    token.add_argument("--out", type=Path, required=True, help="the token file to write")
    revoke = what.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token_id")
    for p in (add, listing, remove, token, revoke):
        add_users_arguments(p)


def run_users(args: argparse.Namespace) -> int:
    """Run a ``users`` subcommand; one line and status 2 for a mistake."""
    try:
        store = AccountStore(args.users)
    except AccountError as exc:
        print(f"ground users: {exc}", file=sys.stderr)
        return 2
    try:
        return _COMMANDS[args.users_cmd](store, args)
    except AccountError as exc:
        print(f"ground users {args.users_cmd}: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line.strip("\r\n"):
            raise AccountError("give the password on standard input, or use --no-password")
        return line.rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def _add(store: AccountStore, args: argparse.Namespace) -> int:
    password = None if args.no_password else _password()
    account = store.add(args.name, Role.named(args.role), password)
    print(f"account {account.name} added ({account.role.label})")
    return 0


def _list(store: AccountStore, args: argparse.Namespace) -> int:
    rows = []
    for a in store.accounts():
        live = [
            t.token_id + (f" ({t.label})" if t.label else "")
            for t in store.tokens(a.name)
            if t.revoked is None
        ]
        rows.append(
            {
                "name": a.name,
                "role": a.role.label,
                "created": datetime.fromtimestamp(a.created, UTC).isoformat(timespec="seconds"),
                "password": a.has_password,
                "tokens": live,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        print(
            f"{r['name']:<20} {r['role']:<9} {r['created']}  "
            f"{'password' if r['password'] else 'no password'}  tokens: "
            f"{', '.join(r['tokens']) or 'none'}"
        )
    return 0


def _remove(store: AccountStore, args: argparse.Namespace) -> int:
    store.remove(args.name)
    print(f"account {args.name} removed, with its tokens")
    return 0


def _token(store: AccountStore, args: argparse.Namespace) -> int:
    token, text = store.issue_token(args.name)
    try:
        write_token_file(args.out, text, args.name)
    except OSError as exc:
        store.revoke(token.token_id)
        raise AccountError(f"cannot write {args.out}: {exc.strerror}") from None
    print(f"token {token.token_id} for {args.name} written to {args.out}")
    return 0


def _revoke(store: AccountStore, args: argparse.Namespace) -> int:
    token = store.revoke(args.token_id)
    print(f"token {token.token_id} of {token.account} revoked")
    return 0


_COMMANDS = {"add": _add, "list": _list, "remove": _remove, "token": _token, "revoke": _revoke}
