"""Electronic licences (电子证照): the registry of what was granted, the cases that change,
renew, revoke or cancel a licence, renewal reminders, and the signed documents anyone can
verify (issue 24)."""
