"""TLA+ model checking against the manifest: manifest -> backend run -> outcome -> verdict -> report."""
