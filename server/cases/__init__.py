"""Cases: filing a report, finding and listing cases, who may see what of them, their
photos, numbers and tracking codes, and the repeats and duplicates among them."""
