"""A static web server with Range support, as nginx or an S3 website serves files: a PUT gets 501.

Usage: python range_server.py FOLDER PORT (for tests/data/test_store_lock.py)."""
import os, re, sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
class H(SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def send_head(self):
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if not m or not os.path.isfile(path):
            return super().send_head()
        data = open(path, "rb").read()
        start = int(m[1]); end = int(m[2]) if m[2] else len(data) - 1
        if start >= len(data):
            self.send_error(416); return None
        part = data[start:end + 1]
        self.send_response(206); self.send_header("Content-Range", f"bytes {start}-{start+len(part)-1}/{len(data)}")
        self.send_header("Content-Length", str(len(part))); self.end_headers()
        import io; return io.BytesIO(part)
os.chdir(sys.argv[1]); ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), H).serve_forever()
