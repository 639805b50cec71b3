// weir gives each worker its listening socket as fd 3
const http = require('http');
http.createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'});
  res.end('<!doctype html><title>weir node</title><h1>Node on weir</h1>' +
          '<p id="who">pid ' + process.pid + ', path ' + req.url.replace(/[<>&]/g, '') + '</p>\n');
}).listen({fd: 3});
