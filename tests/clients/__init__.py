"""The real agents in the tests: installed from their registries (install), a scripted model
endpoint on 127.0.0.1 (endpoint), headless runs (sessions). See docs/testing.md."""
