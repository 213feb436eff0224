// Package selector compiles and evaluates JMS message selectors: the subset
// of SQL-92 conditional expressions that the JMS 2.0 specification defines
// (section 3.8.1) and that ActiveMQ Artemis and ActiveMQ Classic accept, for
// example
//
//	color = 'red' AND weight > 2.5 AND JMSPriority BETWEEN 4 AND 9
//
// Compile parses a selector once; Selector.Match then tests messages against
// it without allocating, from any number of goroutines. docs/selectors.md is
// the user's guide; this comment records the rules the code implements.
//
// # Grammar
//
// Keywords (AND OR NOT BETWEEN IN LIKE ESCAPE IS NULL TRUE FALSE) match in
// any letter case; identifiers follow Java's identifier rules and are
// case-sensitive. Literals are strings in single quotes, in which a quote is
// written twice,
//
//	'it''s'
//
// exact numerics with Java's integer syntax (57, 0x1F, 017 for octal, 10L; a
// long), approximate numerics with Java's floating-point syntax (1.5, .5, 5.,
// 1e3, 2d, 2.5f; a double, even with the f suffix) and TRUE and FALSE.
// Precedence, tightest first: unary + and -, then * and /, then + and
// -, then comparisons (= <> < <= > >=, [NOT] BETWEEN, [NOT] IN, [NOT] LIKE,
// IS [NOT] NULL), then NOT, AND and OR. Comparisons do not chain.
//
// The compiler checks types where it can: strings and conditions only meet
// = and <>, arithmetic and BETWEEN take numbers, IN and LIKE take a string on
// the left and string literals on the right, and the selector as a whole is
// a condition. A property may stand anywhere, as its type is only known per
// message. NULL may only appear in IS [NOT] NULL.
//
// # Identifiers
//
// JMSPriority, JMSTimestamp, JMSExpiration, JMSXDeliveryCount and
// JMSXGroupSeq are numbers; JMSCorrelationID, JMSType, JMSReplyTo,
// JMSXGroupID, JMSXUserID and JMSMessageID (the id the client gave, else
// 'ID:' and the broker's id) are strings, NULL when the message lacks them;
// JMSDeliveryMode is 'PERSISTENT' or 'NON_PERSISTENT'. Artemis' aliases
// AMQPriority, AMQTimestamp and AMQExpiration are numbers and AMQDurable is
// 'DURABLE' or 'NON_DURABLE'. Every other identifier names a user property
// (the first occurrence, as message.Message.Property does), and a missing
// property is NULL.
//
// # Typed and text properties
//
// A property with a type (message.Kind: OpenWire and AMQP producers send
// typed properties) is a value of that type: integral kinds are longs,
// float and double are doubles, a boolean a truth value, a char, symbol or
// UUID a string, and null and binary values are NULL. They follow JMS's
// rules exactly, so qty = '12' is FALSE for an int property 12.
//
// A string property (every STOMP header, and strings of the other
// protocols) is text, whose type depends on the operand it meets:
//
//   - against a string (a literal or a string header) it compares as text,
//     so price = '10' matches the text "10" but not "10.0";
//   - against a number, or in arithmetic or BETWEEN, its text is read as a
//     number: an integer is a long, a decimal or exponent form a double, so
//     price = 10 matches both "10" and "10.0";
//   - against TRUE or FALSE, or as a condition of its own, its text is read
//     as a boolean, "true" or "false" in any letter case;
//   - against another property, both compare as numbers if both read as
//     numbers, else as booleans if both read as booleans, else as text.
//
// Text that cannot be read as the type required makes the comparison
// unknown, as if the property were missing: price > 5 does not match "cheap",
// and neither does NOT (price > 5). This differs from comparing a typed JMS
// string with a number, which the specification makes FALSE (so its NOT is
// TRUE): a text property is not known to be a string, it is a value whose
// number could not be read.
//
// # Evaluation
//
// Evaluation follows the specification's three-valued logic. A comparison or
// arithmetic operation with a NULL operand is unknown (NULL); AND is FALSE if
// either side is FALSE, OR is TRUE if either side is TRUE, and otherwise an
// unknown operand makes them unknown; NOT leaves unknown unknown. BETWEEN is
// x >= a AND x <= b, NOT BETWEEN its negation; IN and LIKE with a NULL
// operand are unknown; IS NULL is never unknown. A message matches only if
// the selector is TRUE. Typed values of unlike types (a string header and a
// number, say) are unequal, and integer division by zero is unknown where
// Java would throw; so is division by zero of doubles, where Java would give
// an infinity. Long arithmetic wraps on overflow, as in Java.
//
// LIKE patterns compile to a matcher that never backtracks: it places each
// run of the pattern between '%' wildcards once, so a match costs at most
// the text's length times the pattern's, whatever the pattern. '_' matches
// one Unicode character (Java's matches one UTF-16 unit, which differs only
// outside the Basic Multilingual Plane).
//
// # Limits
//
// Compile rejects selectors longer than MaxLength bytes, nested deeper than
// MaxDepth levels, or not valid UTF-8. Every error is a *SyntaxError giving
// the byte offset of the problem, and wraps ErrSyntax.
package selector
