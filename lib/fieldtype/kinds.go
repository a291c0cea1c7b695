package fieldtype

import "strings"

// Kind is the type of a Certain value, as far as it is known.
type Kind string

const (
	KindUnknown  Kind = ""         // a field the documentation does not describe (custom questions)
	KindText     Kind = "text"     // names, organisation, codes, address lines
	KindEmail    Kind = "email"    // the profile's e-mail
	KindPhone    Kind = "phone"    // phone numbers
	KindBoolean  Kind = "boolean"  // isActive, isConfirmed, ...
	KindInteger  Kind = "integer"  // whole numbers (counts, lead ids)
	KindNumber   Kind = "number"   // numbers that may have a fraction (averages, points)
	KindDate     Kind = "date"     // YYYY-MM-DD
	KindDatetime Kind = "datetime" // dateCreated, dateModified
)

// certainKinds are the types of the Certain fields docs/certain.md §5 names:
// the profile's by name, the registration's with the prefix
// "registration.". Only these are checked offline; anything else (a custom
// profile question) is converted record by record.
var certainKinds = map[string]Kind{
	"pin": KindText, "email": KindEmail, "firstName": KindText, "lastName": KindText,
	"organization": KindText, "position": KindText, "phone": KindPhone, "phoneMobile": KindPhone,
	"address.line1": KindText, "address.line2": KindText, "address.line3": KindText, "address.line4": KindText,
	"address.city": KindText, "address.state": KindText, "address.postalCode": KindText, "address.country": KindText,
	"externalKey": KindText, "sourceOfProfile": KindText, "dateModified": KindDatetime,

	"registration.registrationCode": KindText, "registration.eventCode": KindText, "registration.accountCode": KindText,
	"registration.attendeeTypeCode": KindText, "registration.registrationStatusLabel": KindText,
	"registration.isActive": KindBoolean, "registration.isConfirmed": KindBoolean, "registration.isAccepted": KindBoolean,
	"registration.dateCreated": KindDatetime, "registration.dateModified": KindDatetime,
}

// CertainKind returns the kind of a mapped Certain field name ("firstName",
// "profile.firstName", "registration.isConfirmed"), or KindUnknown.
func CertainKind(name string) Kind {
	name = strings.TrimPrefix(strings.TrimSpace(name), "profile.")
	return certainKinds[name]
}

// fits lists, per Certain kind, the Marketo types a value of it converts to.
var fits = map[Kind][]string{
	KindText:     {String, Text, Phone, Email, URL, Reference},
	KindEmail:    {String, Text, Email},
	KindPhone:    {String, Text, Phone},
	KindBoolean:  {Boolean, String, Text},
	KindInteger:  {Integer, Score, Float, Currency, Percent, String, Text, Phone, Reference, Link},
	KindNumber:   {Integer, Score, Float, Currency, Percent, String, Text},
	KindDate:     {Date, Datetime, String, Text},
	KindDatetime: {Datetime, Date, String, Text},
}

// Fits reports whether values of kind k can fit Marketo type dataType. A
// "yes" is not a promise for every value (a number with a fraction fails an
// integer field, record by record); a "no" means no value of the kind ever
// fits, which is a configuration error. An unknown kind, or a Marketo type
// this package does not know, fits.
func Fits(k Kind, dataType string) bool {
	allowed, known := fits[k]
	if !known || !KnownType(dataType) {
		return true
	}
	dt := strings.ToLower(dataType)
	if dt == "textarea" {
		dt = Text
	}
	for _, a := range allowed {
		if a == dt {
			return true
		}
	}
	return false
}

// KnownType reports whether dataType is a Marketo type Convert knows.
func KnownType(dataType string) bool {
	switch strings.ToLower(dataType) {
	case String, Text, "textarea", Email, Phone, URL, Boolean, Integer, Float, Currency, Percent, Score, Date, Datetime, Reference, Link:
		return true
	}
	return false
}

// StandardField is a Marketo standard lead field: its type and whether the
// REST API may write it.
type StandardField struct {
	Field
	ReadOnly bool
}

// standardLeadFields are Marketo's standard lead fields as Describe Lead
// shows them on every instance (REST name, dataType, length), so that a
// mapping into them is checked offline without a describe.
var standardLeadFields = map[string]StandardField{}

func init() {
	add := func(dt string, length int, ro bool, names ...string) {
		for _, n := range names {
			standardLeadFields[n] = StandardField{Field: Field{Name: n, DataType: dt, Length: length}, ReadOnly: ro}
		}
	}
	add(String, 255, false, "firstName", "middleName", "lastName", "salutation", "title", "company", "department",
		"city", "state", "country", "postalCode", "industry", "leadSource", "leadStatus", "rating", "billingCity")
	add(String, 2000, false, "unsubscribedReason", "doNotCallReason")
	add(String, 50, false, "leadRole")
	add(String, 40, false, "sicCode")
	add(Email, 255, false, "email")
	add(Phone, 255, false, "phone", "mobilePhone", "fax")
	add(URL, 255, false, "website")
	add(Text, 0, false, "address", "billingStreet")
	add(Currency, 0, false, "annualRevenue")
	add(Integer, 0, false, "numberOfEmployees", "leadScore", "priority")
	add(Float, 0, false, "urgency")
	add(Boolean, 0, false, "unsubscribed", "doNotCall", "emailInvalid")
	add(Date, 0, false, "dateOfBirth")
	add(Datetime, 0, true, "createdAt", "updatedAt")
}

// StandardLeadField returns a Marketo standard lead field by REST name.
func StandardLeadField(name string) (StandardField, bool) {
	f, ok := standardLeadFields[name]
	return f, ok
}
