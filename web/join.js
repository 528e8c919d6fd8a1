// The page's entry point (join.html loads this file; tests/test_signaling_ws.py looks for its name).
import "./js/app.js";
