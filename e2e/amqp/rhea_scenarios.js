#!/usr/bin/env node
// rhea scenarios against a real tandem: node rhea_scenarios.js SCENARIO HOST PORT
//
// Each prints "OK <scenario>" when everything it checks holds and exits
// non-zero with a message otherwise. e2e/amqp_test.go runs them.
'use strict';

var rhea = require('./node_modules/rhea');

var scenario = process.argv[2];
var host = process.argv[3];
var port = Number(process.argv[4]);

function fail(msg) {
    console.log('FAIL ' + msg);
    process.exit(1);
}

setTimeout(function () { fail('timed out in ' + scenario); }, 60000).unref();

// connect opens a connection without SASL (rhea skips it without a user).
function connect(options) {
    var c = rhea.create_container({id: (options && options.id) || 'rhea-' + scenario});
    var opts = Object.assign({host: host, port: port, reconnect: false}, options || {});
    delete opts.id;
    return {container: c, connection: c.connect(opts)};
}

// basic: send three messages and receive them, without SASL.
function basic() {
    var conn = connect().connection;
    var sender = conn.open_sender('rhea-basic');
    var sent = 0, received = [];
    sender.on('sendable', function () {
        while (sender.sendable() && sent < 3) {
            sender.send({body: 'm' + sent, application_properties: {n: sent}});
            sent++;
        }
    });
    var receiver = conn.open_receiver('rhea-basic');
    receiver.on('message', function (ctx) {
        if (ctx.message.application_properties.n !== received.length) fail('property n ' + ctx.message.application_properties.n);
        received.push(ctx.message.body);
        if (received.length === 3) {
            if (received.join(',') !== 'm0,m1,m2') fail('received ' + received);
            conn.close();
            console.log('OK basic');
        }
    });
}

// durable: a durable subscription survives a detach, and a close ends it.
function durable() {
    var conn = connect({id: 'rhea-durable-client'}).connection;
    var source = {address: 'rhea-topic', durable: 2, expiry_policy: 'never', capabilities: ['topic']};
    var step = 'first';
    var sub = conn.open_receiver({name: 'rhea-sub', source: source});
    var pub = conn.open_sender({target: {address: 'rhea-topic', capabilities: ['topic']}});
    var got = [];
    sub.on('receiver_open', function () {
        if (step === 'first') {
            step = 'detached';
            sub.detach();
        }
    });
    sub.on('receiver_close', function () {
        if (step === 'detached') {
            // Detached: publish, then attach again by the same name.
            var n = 0;
            var publish = function () {
                while (pub.sendable() && n < 2) pub.send({body: 'while-away-' + n++});
            };
            pub.on('accepted', function () {
                if (--n === 0 && step === 'detached') {
                    step = 'resumed';
                    sub = conn.open_receiver({name: 'rhea-sub', source: source});
                    sub.on('message', function (ctx) {
                        got.push(ctx.message.body);
                        if (got.length === 2) {
                            if (got.join(',') !== 'while-away-0,while-away-1') fail('resumed subscription got ' + got);
                            step = 'closing';
                            sub.close();
                        }
                    });
                    sub.on('receiver_close', afterClose);
                }
            });
            if (pub.sendable()) publish(); else pub.once('sendable', publish);
            n = 2;
        }
    });
    function afterClose() {
        // Closed: the subscription is gone, so a message published now is
        // not kept for a new one.
        step = 'gone';
        pub.send({body: 'after-unsubscribe'});
        pub.once('accepted', function () {
            var again = conn.open_receiver({name: 'rhea-sub', source: source});
            again.on('message', function (ctx) { fail('a closed subscription kept ' + ctx.message.body); });
            again.on('receiver_open', function () {
                setTimeout(function () { conn.close(); console.log('OK durable'); }, 500);
            });
        });
    }
}

// drain: with credit for five and two messages waiting, a drain brings
// the two and then the drained flow.
function drain() {
    var conn = connect().connection;
    var sender = conn.open_sender('rhea-drain');
    var acked = 0;
    sender.once('sendable', function () {
        sender.send({body: 'd0'});
        sender.send({body: 'd1'});
    });
    sender.on('accepted', function () {
        if (++acked !== 2) return;
        var receiver = conn.open_receiver({source: 'rhea-drain', credit_window: 0});
        var got = [];
        receiver.on('message', function (ctx) { got.push(ctx.message.body); });
        receiver.on('receiver_drained', function () {
            if (got.join(',') !== 'd0,d1') fail('drained after ' + got);
            if (receiver.credit !== 0) fail('credit after drain ' + receiver.credit);
            conn.close();
            console.log('OK drain');
        });
        receiver.once('receiver_open', function () {
            receiver.drain = true;
            receiver.add_credit(5);
        });
    });
}

// failover: learn the backups from the live's open (failover-server-list),
// send, wait for the test to kill the live, reconnect to a backup, send
// more, and receive every message.
function failover() {
    var c = rhea.create_container({id: 'rhea-failover'});
    var servers = [{host: host, port: port}];
    var attempt = 0;
    var conn = c.connect({
        connection_details: function () {
            var s = servers[attempt++ % servers.length];
            return {host: s.host, port: s.port};
        },
        reconnect: true, initial_reconnect_delay: 50, max_reconnect_delay: 500, reconnect_limit: 200,
    });
    var opened = 0, sender, phase1 = 0;
    var accepted = {};
    conn.on('connection_open', function (ctx) {
        opened++;
        if (opened === 1) {
            var props = ctx.connection.remote.open.properties || {};
            var list = props['failover-server-list'];
            if (!list || !list.length) fail('no failover-server-list in the live\'s open: ' + JSON.stringify(props));
            list.forEach(function (s) { servers.push({host: s['network-host'], port: Number(s.port)}); });
            console.log('LEARNED ' + servers.slice(1).map(function (s) { return s.host + ':' + s.port; }).join(','));
            sender = conn.open_sender('rhea-failover');
            sender.on('accepted', function (ctx) {
                accepted[ctx.delivery.tag_body] = true;
                if (opened === 1 && ++phase1 === 5) console.log('PHASE1');
            });
            var sendFive = function (prefix) {
                for (var i = 0; i < 5; i++) {
                    var d = sender.send({body: prefix + i, durable: true});
                    d.tag_body = prefix + i;
                }
            };
            sender.once('sendable', function () { sendFive('before-'); });
            sender.sendFive = sendFive;
        } else if (opened === 2) {
            // On the backup: rhea re-attached the sender.
            sender.once('sendable', function () {
                sender.sendFive('after-');
                var got = {};
                var receiver = conn.open_receiver('rhea-failover');
                receiver.on('message', function (ctx) {
                    if (got[ctx.message.body]) fail('received twice: ' + ctx.message.body);
                    got[ctx.message.body] = true;
                    var n = Object.keys(got).length;
                    if (n === 10) {
                        conn.close();
                        console.log('OK failover');
                    }
                });
            });
        }
    });
    conn.on('disconnected', function (ctx) {
        if (opened === 1 && phase1 < 5) fail('disconnected before the first five were accepted');
    });
}

var scenarios = {basic: basic, durable: durable, drain: drain, failover: failover};
if (!scenarios[scenario]) fail('unknown scenario ' + scenario);
scenarios[scenario]();
