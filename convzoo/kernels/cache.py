"""``CallCache``: work a call repeats (a table, a plan, validated arguments) kept by its arguments.

A training loop calls each layer with the same shapes step after step; what depends on the shapes
alone is computed once per shape and looked up after that.
"""


class CallCache:
    """Per-call work (a pass's algorithm, a call's validated arguments) kept by a hashable key, at
    most ``size`` entries (cleared when full: a process meets few shapes). A key of None, or one with
    an unhashable part (a list among the arguments), computes without the cache."""

    def __init__(self, size=4096):
        self.size, self.entries = size, {}

    def __len__(self):
        return len(self.entries)

    def get(self, key, compute, *args):
        """The entry of key, made by ``compute(*args)`` when missing."""
        if key is None:
            return compute(*args)
        try:
            found = self.entries.get(key)
        except TypeError:
            return compute(*args)
        if found is None:
            found = compute(*args)
            if len(self.entries) >= self.size:
                self.entries.clear()
            self.entries[key] = found
        return found
