// Interop check with stompit (npm), a Node.js STOMP 1.2 client over TCP.
'use strict';
const stompit = require('./node_modules/stompit');

const [host, port, dest] = process.argv.slice(2);
const fail = (msg) => { console.error(msg); process.exit(1); };
setTimeout(() => fail('timed out'), 10000).unref();

stompit.connect({ host, port: Number(port), connectHeaders: { host: 'localhost', login: 'admin', passcode: 'admin' } }, (err, client) => {
  if (err) fail('connect: ' + err.message);
  let sent = 0;
  for (let i = 0; i < 3; i++) {
    const frame = client.send({ destination: dest, persistent: 'true', 'x-note': 'js', receipt: 'r' + i }, {
      onReceipt: () => { if (++sent === 3) receive(); },
    });
    frame.end('js-' + i);
  }
  const got = [];
  function receive() {
    client.subscribe({ destination: dest, ack: 'client-individual', id: 's1' }, (err, message) => {
      if (err) fail('subscribe: ' + err.message);
      if (message.headers['x-note'] !== 'js') fail('header x-note lost');
      message.readString('utf-8', (err, body) => {
        if (err) fail('read: ' + err.message);
        got.push(body);
        client.ack(message);
        if (got.length === 3) {
          if (got.join(',') !== 'js-0,js-1,js-2') fail('bodies ' + got);
          client.disconnect(() => { console.log('OK 3'); process.exit(0); });
        }
      });
    });
  }
});
