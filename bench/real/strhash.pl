# SPDX-License-Identifier: MIT
# strhash.pl: a hash- and string-heavy Perl workload for `make bench`; run it with
# PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 so that every run makes the same calls.
#
# Usage: perl strhash.pl [rounds=66]   (a benchmark workload, not a test)
#
# Each round fills a hash with 2000 formatted keys to arrays and hashes, joins, splits,
# substitutes and re-keys it, counts words, sorts its keys, then drops it all.
use strict;
use warnings;

my $rounds = @ARGV ? $ARGV[0] : 66;
my $total = 0;
for my $r (1 .. $rounds) {
	my %table;
	for my $i (0 .. 1999) {
		my $key = sprintf("item-%d-%d", $r, $i * 7919 % 100003);
		$table{$key} = [uc $key, length $key, { round => $r, name => scalar reverse $key }];
	}
	my $text = join(" ", map { "$_:" . lc $table{$_}[0] } keys %table);
	my %words;
	for my $w (split / /, $text) {
		(my $head = $w) =~ s/:.*//;
		$words{$head}++;
	}
	my %rekeyed = map { $table{$_}[2]{name} => [$_, "$table{$_}[1]"] } keys %table;
	for my $k (sort keys %table) {
		die "strhash.pl: error: lost key '$k'\n" if !exists $words{$k} || exists $rekeyed{$k};
	}
	$total += keys(%words) + keys(%rekeyed) + length $text;
}
print "$total\n";
