// Drives rhea (e2e/amqp/node_modules) against the codec's capture server.
//
// Usage: node rhea_capture.js send|receive HOST PORT
//
// Prints one line per message received and "done" at the end; the Go test
// checks the output. Run by capture_test.go.
'use strict';
var path = require('path');
var rhea = require(path.join(process.env.RHEA_DIR, 'rhea'));

var scenario = process.argv[2];
var host = process.argv[3];
var port = Number(process.argv[4]);

function fail(e) {
    console.error(e);
    process.exit(1);
}

function send() {
    var container = rhea.create_container({id: 'capture-rhea-send'});
    var conn = container.connect({host: host, port: port});
    var sender = conn.open_sender({target: {address: 'orders', capabilities: ['queue']}});
    var messages = [
        {message_id: 'r1', body: 'text body', application_properties: {color: 'red', n: 1, f: 1.5},
         message_annotations: {'x-opt-jms-msg-type': rhea.types.wrap_byte(5)}, durable: true, priority: 6, ttl: 10000,
         subject: 's', reply_to: 'replies', content_type: 'text/plain', creation_time: new Date(1700000000000)},
        {message_id: rhea.types.wrap_ulong(2), body: rhea.message.data_section(Buffer.from('binary body'))},
        {body: {k: 'v', list: [1, 2, 3]}},
        {body: rhea.message.sequence_section([1, 'two'])},
    ];
    var sent = 0, settled = 0;
    sender.on('sendable', function () {
        while (sender.sendable() && sent < messages.length) {
            sender.send(messages[sent++]);
        }
    });
    sender.on('accepted', function () {
        if (++settled === messages.length) {
            sender.close();
        }
    });
    sender.on('sender_close', function () { conn.close(); });
    conn.on('connection_close', function () { console.log('done'); });
    conn.on('disconnected', function (ctx) { if (ctx.error) fail(ctx.error); });
}

function receive() {
    var container = rhea.create_container({id: 'capture-rhea-sub'});
    var conn = container.connect({host: host, port: port});
    var durable = conn.open_receiver({
        name: 'sub1',
        source: {address: 'news', durable: 2, expiry_policy: 'never', filter: rhea.filter.selector("color = 'red'"),
                 capabilities: ['topic']},
        autoaccept: false,
        credit_window: 0,
    });
    durable.add_credit(2);
    var got = 0;
    durable.on('message', function (ctx) {
        var body = ctx.message.body;
        if (body && body.typecode === 0x75) body = body.content.length + ' bytes';
        else if (Buffer.isBuffer(body)) body = body.length + ' bytes';
        console.log('received ' + ctx.message.message_id + ' ' + JSON.stringify(body));
        if (++got === 1) ctx.delivery.accept();
        else ctx.delivery.release({delivery_failed: true, undeliverable_here: true});
        if (got === 2) durable.drain_credit();
    });
    durable.on('receiver_drained', function () {
        console.log('drained');
        durable.detach();
    });
    durable.on('receiver_close', function () { conn.close(); });
    conn.on('connection_close', function () { console.log('done'); });
    conn.on('disconnected', function (ctx) { if (ctx.error) fail(ctx.error); });
}

if (scenario === 'send') send();
else if (scenario === 'receive') receive();
else fail('unknown scenario ' + scenario);
