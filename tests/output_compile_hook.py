"""Run ``bayesmeta.cli`` with nutpie's compile announced as the stage ``compile`` on stderr.

Used by tests/test_output_signals.py to send a real signal while numba/PyTensor compile a model.
With ``BAYESMETA_TEST_SIGNAL_IN_CALLBACK=INT|TERM`` the process sends itself that signal from
inside llvmlite's ctypes callback (``ExecutionEngine._raw_object_cache_notify``, called from C
while numba finalises machine code): there a handler's KeyboardInterrupt is printed as
"Exception ignored ..." and dropped, which is how Ctrl-C during a compile used to exit 0."""

import os
import signal
import sys

import nutpie
from llvmlite.binding.executionengine import ExecutionEngine

from bayesmeta.cli import main

_compile = nutpie.compile_pymc_model


def _announced(*args, **kwargs):
    print("bayesmeta: stage compile", file=sys.stderr, flush=True)
    return _compile(*args, **kwargs)


nutpie.compile_pymc_model = _announced

_in_callback = os.environ.get("BAYESMETA_TEST_SIGNAL_IN_CALLBACK")
if _in_callback:
    _find = ExecutionEngine._find_module_ptr
    _sent = []

    def _find_and_signal(self, ptr):
        if not _sent:
            _sent.append(1)
            print("bayesmeta: stage compile-callback", file=sys.stderr, flush=True)
            os.kill(os.getpid(), getattr(signal, f"SIG{_in_callback}"))
            sum(range(10_000))  # Python work: the handler runs here, inside the C callback
        return _find(self, ptr)

    ExecutionEngine._find_module_ptr = _find_and_signal
sys.exit(main(sys.argv[1:]))
