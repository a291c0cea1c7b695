package memstore_test

import (
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
	"github.com/certain-marketo/certain-marketo/lib/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
}
