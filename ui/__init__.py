"""`webcoach ui`: a local web app to see and fix what memory holds (between tasks and the CLI in the layers)."""
