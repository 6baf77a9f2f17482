"""What a rules draft would do before it is saved (issue 21): checked by the same loader
as `notifier check`, previewed over the events the store keeps (or Testpress, as
`notifier preview` reads it), tested with the institute's rule tests, and saved as a
version of the rules kept in the state store."""
