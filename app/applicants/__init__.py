"""What applicants do online: apply and upload materials, follow progress, rate the service."""
