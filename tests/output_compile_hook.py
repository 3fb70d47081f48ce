"""Run ``bayesmeta.cli`` with nutpie's compile announced as the stage ``compile`` on stderr.

Used by tests/test_output_signals.py to send a real signal while numba/PyTensor compile a model
(where a KeyboardInterrupt raised in a C callback used to be swallowed)."""

import sys

import nutpie

from bayesmeta.cli import main

_compile = nutpie.compile_pymc_model


def _announced(*args, **kwargs):
    print("bayesmeta: stage compile", file=sys.stderr, flush=True)
    return _compile(*args, **kwargs)


nutpie.compile_pymc_model = _announced
sys.exit(main(sys.argv[1:]))
