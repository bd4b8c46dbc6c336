"""Working days: Chinese statutory holidays and make-up working days, office hours, due dates."""
