"""The shared care record of a resident: visits and notes written by both organisations' care teams."""
