package amqp

// Descriptor codes of the composite types in the AMQP 1.0 specification.
// Every one of them also has a symbolic name ("amqp:open:list"); a peer may
// send either, and the decoder treats them alike.
const (
	descOpen        uint64 = 0x10
	descBegin       uint64 = 0x11
	descAttach      uint64 = 0x12
	descFlow        uint64 = 0x13
	descTransfer    uint64 = 0x14
	descDisposition uint64 = 0x15
	descDetach      uint64 = 0x16
	descEnd         uint64 = 0x17
	descClose       uint64 = 0x18

	descError uint64 = 0x1d

	descReceived uint64 = 0x23
	descAccepted uint64 = 0x24
	descRejected uint64 = 0x25
	descReleased uint64 = 0x26
	descModified uint64 = 0x27
	descSource   uint64 = 0x28
	descTarget   uint64 = 0x29

	descDeleteOnClose             uint64 = 0x2b
	descDeleteOnNoLinks           uint64 = 0x2c
	descDeleteOnNoMessages        uint64 = 0x2d
	descDeleteOnNoLinksOrMessages uint64 = 0x2e

	descCoordinator        uint64 = 0x30
	descDeclare            uint64 = 0x31
	descDischarge          uint64 = 0x32
	descDeclared           uint64 = 0x33
	descTransactionalState uint64 = 0x34

	descSASLMechanisms uint64 = 0x40
	descSASLInit       uint64 = 0x41
	descSASLChallenge  uint64 = 0x42
	descSASLResponse   uint64 = 0x43
	descSASLOutcome    uint64 = 0x44

	descHeader                uint64 = 0x70
	descDeliveryAnnotations   uint64 = 0x71
	descMessageAnnotations    uint64 = 0x72
	descProperties            uint64 = 0x73
	descApplicationProperties uint64 = 0x74
	descData                  uint64 = 0x75
	descAMQPSequence          uint64 = 0x76
	descAMQPValue             uint64 = 0x77
	descFooter                uint64 = 0x78
)

// The filters of the Apache domain (0x0000468C) that JMS clients put in a
// source's filter set, with both their ulong and symbol descriptors.
const (
	SelectorFilterCode   uint64 = 0x0000468C00000004
	SelectorFilterSymbol Symbol = "apache.org:selector-filter:string"
	NoLocalFilterCode    uint64 = 0x0000468C00000003
	NoLocalFilterSymbol  Symbol = "apache.org:no-local-filter:list"
)

// descriptorNames maps each descriptor code to its symbolic name.
var descriptorNames = map[uint64]string{
	descOpen:                      "amqp:open:list",
	descBegin:                     "amqp:begin:list",
	descAttach:                    "amqp:attach:list",
	descFlow:                      "amqp:flow:list",
	descTransfer:                  "amqp:transfer:list",
	descDisposition:               "amqp:disposition:list",
	descDetach:                    "amqp:detach:list",
	descEnd:                       "amqp:end:list",
	descClose:                     "amqp:close:list",
	descError:                     "amqp:error:list",
	descReceived:                  "amqp:received:list",
	descAccepted:                  "amqp:accepted:list",
	descRejected:                  "amqp:rejected:list",
	descReleased:                  "amqp:released:list",
	descModified:                  "amqp:modified:list",
	descSource:                    "amqp:source:list",
	descTarget:                    "amqp:target:list",
	descDeleteOnClose:             "amqp:delete-on-close:list",
	descDeleteOnNoLinks:           "amqp:delete-on-no-links:list",
	descDeleteOnNoMessages:        "amqp:delete-on-no-messages:list",
	descDeleteOnNoLinksOrMessages: "amqp:delete-on-no-links-or-messages:list",
	descCoordinator:               "amqp:coordinator:list",
	descDeclare:                   "amqp:declare:list",
	descDischarge:                 "amqp:discharge:list",
	descDeclared:                  "amqp:declared:list",
	descTransactionalState:        "amqp:transactional-state:list",
	descSASLMechanisms:            "amqp:sasl-mechanisms:list",
	descSASLInit:                  "amqp:sasl-init:list",
	descSASLChallenge:             "amqp:sasl-challenge:list",
	descSASLResponse:              "amqp:sasl-response:list",
	descSASLOutcome:               "amqp:sasl-outcome:list",
	descHeader:                    "amqp:header:list",
	descDeliveryAnnotations:       "amqp:delivery-annotations:map",
	descMessageAnnotations:        "amqp:message-annotations:map",
	descProperties:                "amqp:properties:list",
	descApplicationProperties:     "amqp:application-properties:map",
	descData:                      "amqp:data:binary",
	descAMQPSequence:              "amqp:amqp-sequence:list",
	descAMQPValue:                 "amqp:amqp-value:*",
	descFooter:                    "amqp:footer:map",
	SelectorFilterCode:            string(SelectorFilterSymbol),
	NoLocalFilterCode:             string(NoLocalFilterSymbol),
}

// descriptorBySymbol is the reverse of descriptorNames.
var descriptorBySymbol = func() map[string]uint64 {
	m := make(map[string]uint64, len(descriptorNames))
	for c, s := range descriptorNames {
		m[s] = c
	}
	return m
}()

// descriptorName returns the symbolic name of a descriptor code, for
// error messages.
func descriptorName(c uint64) string {
	if s, ok := descriptorNames[c]; ok {
		return s
	}
	return "unknown"
}
