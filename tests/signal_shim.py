"""Run normcli with a signal sent to itself at a chosen point (a test-only wrapper).

    python tests/signal_shim.py INT write:3 -- normalize in.npy out.npy -m zscore

sends SIGINT (or TERM) to this very process at that point, then lets normcli handle it
as it would a real Ctrl-C or ``kill``: the signal goes through the operating system and
Python's handler, nothing is raised by hand. Points:

``read:K``     before the K-th chunk read from INPUT is handed on (0-based, whole run)
``write:K``    before the K-th chunk is written to OUTPUT (``write:last``: the last one)
``commit``     as the finished OUTPUT is about to be moved into place
``rename``     inside the rename of the finished OUTPUT onto its target, just before it
``rendered``   once OUTPUT is in place, while the results are printed
``swallowed:K`` at the K-th chunk written, from inside a destructor: Python swallows the
               exception the handler raises there (it happens in h5py's weakref
               callbacks), so only normcli's note of the signal can stop the run

The point is reached by wrapping normcli's reader and writer from outside: normcli
itself has no hook for this. Exit code and stderr are normcli's.
"""

from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> None:
    sig_name, point, sep, *args = argv
    assert sep == "--", "usage: signal_shim.py INT|TERM POINT -- normcli arguments"
    signum = getattr(signal, f"SIG{sig_name}")
    where, _, arg = point.partition(":")
    sent = []

    def fire():
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signum)

    class Destructor:
        def __del__(self):
            fire()
            for _ in range(1000):  # the handler runs here, and its exception is lost
                pass

    import normcli.io as nio

    counts = {"read": 0, "write": 0}

    if where == "read":
        real_open_reader = nio.open_reader

        def open_reader(*a, **kw):
            reader = real_open_reader(*a, **kw)
            real_iter = reader.iter_chunks

            def iter_chunks(name, rows):
                for chunk in real_iter(name, rows):
                    if counts["read"] == int(arg):
                        fire()
                    counts["read"] += 1
                    yield chunk

            reader.iter_chunks = iter_chunks
            real_into = getattr(reader, "iter_chunks_into", None)
            if real_into is not None:  # the local engine reads straight into its buffers

                def iter_chunks_into(name, rows, take):
                    for chunk in real_into(name, rows, take):
                        if counts["read"] == int(arg):
                            fire()
                        counts["read"] += 1
                        yield chunk

                reader.iter_chunks_into = iter_chunks_into
            return reader

        nio.open_reader = open_reader

    if where in ("write", "swallowed", "commit", "rename"):
        real_open_writer = nio.open_writer

        def open_writer(*a, **kw):
            writer = real_open_writer(*a, **kw)
            if where in ("write", "swallowed"):
                real_add = writer.add

                def add(name, shape, dtype):
                    sink = real_add(name, shape, dtype)
                    real_write = sink.write

                    def write(chunk):
                        rows = shape[0] if shape else 1
                        k = chunk.shape[0] if shape else 1
                        last = sink.rows_written + k >= rows
                        if last if arg == "last" else counts["write"] == int(arg):
                            if where == "swallowed":
                                Destructor()  # made and destroyed at once
                            else:
                                fire()
                        counts["write"] += 1
                        return real_write(chunk)

                    sink.write = write
                    return sink

                writer.add = add
            if where == "commit":
                real_commit = writer.commit

                def commit():
                    fire()
                    return real_commit()

                writer.commit = commit
            return writer

        nio.open_writer = open_writer

    if where == "rename":
        real_replace, real_rename = os.replace, os.rename

        def renaming(real):
            def rename(src, dst, *a, **kw):
                if ".normcli-" in os.fspath(src) and ".normcli-" not in os.fspath(dst):
                    fire()
                return real(src, dst, *a, **kw)

            return rename

        os.replace, os.rename = renaming(real_replace), renaming(real_rename)

    if where == "rendered":
        from normcli.cli import normalize

        real_render = normalize.render_normalize

        def render_normalize(*a, **kw):
            fire()
            return real_render(*a, **kw)

        normalize.render_normalize = render_normalize

    assert where in ("read", "write", "swallowed", "commit", "rename", "rendered"), point
    from normcli.cli import main as normcli_main

    normcli_main(args)


if __name__ == "__main__":
    main(sys.argv[1:])
