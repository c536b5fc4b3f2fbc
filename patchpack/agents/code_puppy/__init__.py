"""patchpack inside Code Puppy: a plugin that makes the workflow's rules true in its loop.

decide: the guard's decisions on one tool call; masking: old tool outputs replaced by stubs;
router: the model for a run; gate: budgets and pacing; actions: what the plugin did;
plugin, session: the callbacks; register_callbacks: what Code Puppy's plugin loader imports.
See docs/code-puppy.md.
"""
