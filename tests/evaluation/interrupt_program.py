"""A launch-like program for tests/evaluation/test_interrupts.py: jitted host loops writing a
run directory under interrupts.clean_stop().

  python tests/evaluation/interrupt_program.py PHASE WORKDIR [STEPS]

PHASE: 'compile' (a slow compilation, then short steps), 'execute' (jitted calls of STEPS loop
iterations each) or 'python' (a plain-Python loop that never calls check()). Prints a line
naming each phase on stdout as it begins, so the test can signal at the right moment.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.evaluation import interrupts, report

UNROLLED_OPS = 1000  # operations of the slow-to-compile function (a few seconds of XLA)


def slow_to_compile(x: jax.Array) -> jax.Array:
    """A long unrolled chain of operations: seconds of compilation, microseconds to run."""
    for i in range(UNROLLED_OPS):
        x = jnp.sin(x) * 1.0001 + i
    return x


@jax.jit
def slow_to_run(x: jax.Array, steps: jax.Array) -> jax.Array:
    """``steps`` iterations of a scalar loop: as long a jitted call as asked."""
    return jax.lax.fori_loop(0, steps, lambda i, x: jnp.sin(x) + 1e-3, x)


def say(line: str) -> None:
    print(line, flush=True)


def main(phase: str, workdir: str, steps: int) -> None:
    with interrupts.clean_stop(), report.RunDir(workdir) as run:
        run.write_config({"phase": phase})
        x = jnp.ones(4)
        if phase == "compile":
            say("compiling")
            x = jax.jit(slow_to_compile)(x)
            say(f"compiled; signal pending: {interrupts.requested()}")
        if phase == "python":
            say("python")
            while True:
                sum(range(1000))
        for chunk in range(5):
            say(f"chunk {chunk}")
            x = slow_to_run(x, steps)
            run.save_arrays("results", x=np.asarray(x))
            interrupts.check()
        run.write_summary({"x": np.asarray(x)})
    say("finished")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1000)
