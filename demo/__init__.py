"""What the app needs beside the core `predictor` package: its policy (`demo.session`) and its load test
(`demo.appbench`). `app.py` is the UI over them; nothing in `predictor/` imports this package."""
