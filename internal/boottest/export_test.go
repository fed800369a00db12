package boottest

// Hooks for the external tests.
var (
	BoottestIsolinux = isolinuxTopLevel
	BoottestGrub     = grubTopLevel
)
