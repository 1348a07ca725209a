#!/usr/bin/env python3
"""Follow Ferrobot's change feed and resume where it stopped.

    pip install websockets
    FERROBOT_TOKEN=<40 hex> python3 examples/follow.py ws://127.0.0.1:8080/api/graphql/

Prints one line per change of a device or an interface, and keeps the last sequence it printed
in `.ferrobot-sequence`: stopped and started again (the server too), it goes on from there and
misses nothing, prints nothing twice.
"""

import asyncio
import json
import os
import pathlib
import sys

import websockets

SUBSCRIPTION = """
subscription($after: BigInt) {
  object_changes(after_sequence: $after, changed_object_type: ["dcim.device", "dcim.interface"]) {
    sequence action time user_name object_repr
    changed_object_type { app_label model }
    changed_object { ... on DeviceType { name status { name } } ... on InterfaceType { name enabled } }
  }
}
"""

STATE = pathlib.Path(".ferrobot-sequence")


async def follow(url: str, token: str) -> None:
    after = int(STATE.read_text()) if STATE.exists() else None
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Token {token}"}}))
        ack = json.loads(await ws.recv())
        if ack["type"] != "connection_ack":
            raise SystemExit(f"refused: {ack}")
        payload = {"query": SUBSCRIPTION, "variables": {"after": after}}
        await ws.send(json.dumps({"type": "subscribe", "id": "changes", "payload": payload}))
        async for text in ws:
            message = json.loads(text)
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message["type"] == "next":
                change = message["payload"]["data"]["object_changes"]
                print(change["sequence"], change["action"], change["object_repr"], json.dumps(change["changed_object"]), flush=True)
                STATE.write_text(str(change["sequence"]))
            elif message["type"] in ("error", "complete"):
                raise SystemExit(f"the server ended the subscription: {message}")


async def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080/api/graphql/"
    token = os.environ["FERROBOT_TOKEN"]
    while True:  # reconnect, and resume, whenever the connection drops
        try:
            await follow(url, token)
        except (OSError, websockets.ConnectionClosed) as error:
            print(f"connection lost ({error}); resuming in 1 s", file=sys.stderr)
            await asyncio.sleep(1)


if __name__ == "__main__":
    asyncio.run(main())
