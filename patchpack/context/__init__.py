"""Context packs: the work diff and located code, fitted to a token budget."""
