"""XLA compiler options for the sampler's programs, and ``jax.jit`` made with them.

On CPU, XLA's fusion emitters (the default code generator for fused loops in
recent jaxlib releases; 0.10 where this was measured) take about twice as long
to compile the samplers' programs as the older emitters, for code that runs
no faster: on the Gcsemv random-slope model the collapsed sampler's loop
compiles in 1.0 s instead of 1.9 s and runs in the same time, and the Rasch
model's NUTS run (100,000 rows) takes the same time either way. The
samplers' programs are compiled with the older emitters where the installed
XLA still has them; elsewhere (GPU, or an XLA without the option) JAX's
defaults apply.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["compiler_options", "LazyJit"]

#: options for CPU compilations (XLA's DebugOptions fields)
CPU_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


@lru_cache(maxsize=None)
def _cpu_options_supported() -> bool:
    import jax

    try:  # an XLA that no longer has an option refuses it by name
        jax.jit(lambda x: x + 1, compiler_options=CPU_OPTIONS).lower(1.0).compile()
    except Exception:  # noqa: BLE001 - any refusal means: compile with the defaults
        return False
    return True


def compiler_options() -> dict | None:
    """The options to compile the samplers' programs with (None: JAX's defaults).

    Examples
    --------
    >>> opts = compiler_options()
    >>> opts is None or opts == {"xla_cpu_use_fusion_emitters": False}
    True
    """
    import jax

    if jax.default_backend() != "cpu" or not _cpu_options_supported():
        return None
    return dict(CPU_OPTIONS)


class LazyJit:
    """``jax.jit(fun, compiler_options=compiler_options(), **kwargs)``, made on first use.

    So a module can define compiled functions without choosing a backend at
    import time.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> f = LazyJit(lambda x, n: jnp.sum(x) * n, static_argnums=1)
    >>> float(f(jnp.ones(3), 2))
    6.0
    """

    def __init__(self, fun, **kwargs):
        self.fun = fun
        self.kwargs = kwargs
        self._jitted = None
        self.__doc__ = getattr(fun, "__doc__", None)
        self.__wrapped__ = fun

    def _get(self):
        if self._jitted is None:
            import jax

            self._jitted = jax.jit(self.fun, compiler_options=compiler_options(), **self.kwargs)
        return self._jitted

    def __call__(self, *args, **kwargs):
        return self._get()(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return self._get().lower(*args, **kwargs)
