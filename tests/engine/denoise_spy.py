"""A test helper: wrap `dit.denoise` to record the context latents the model receives."""

from __future__ import annotations


class DenoiseSpy:
    """`with DenoiseSpy(pipeline.dit) as spy: ...` then `spy.contexts` holds one [B, T, 128] per call."""

    def __init__(self, dit):
        self.dit, self.original, self.contexts = dit, dit.denoise, []

    def __enter__(self):
        def spy(x, t, r, context_latents, *args, **kwargs):
            self.contexts.append(context_latents.detach().clone())
            return self.original(x, t, r, context_latents, *args, **kwargs)

        self.dit.denoise = spy
        return self

    def __exit__(self, *exc):
        self.dit.denoise = self.original
