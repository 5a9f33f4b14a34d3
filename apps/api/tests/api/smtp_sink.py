"""A real SMTP server on loopback for the black-box tests (aiosmtpd).

Usage: python3 smtp_sink.py PORT DIR

Every accepted message is written to DIR as one .eml file. Recipients whose local part starts
with "reject" are refused with a permanent error (550) until a file named "accept-all" exists in
DIR. Prints "ready" once listening; runs until killed.
"""

import os
import sys
import time
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        accept_all = os.path.exists(os.path.join(self.directory, "accept-all"))
        if address.split("@", 1)[0].startswith("reject") and not accept_all:
            return "550 5.1.1 Mailbox unavailable (test sink)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}-{uuid.uuid4().hex}"
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, name + ".eml"))
        return "250 Message accepted for delivery"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
